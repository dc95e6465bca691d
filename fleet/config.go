// Package fleet simulates a fleet of installed apps through a key
// rotation: who holds which pins, hour by hour, and who is refused.
//
// It answers "if we rotate on this plan, how many installs refuse the
// live key, and for how long?" before the rotation happens. The
// simulation is discrete (hourly buckets of events), deterministic for a
// seed, and shares its decisions with the code it models:
//
//   - when an install refreshes (at launch, every interval with jitter,
//     backoff after failures, and after a refused request: the self-heal,
//     client.Schedule.HealAllowed) is [client.Schedule], the functions the
//     SDK's background loop and transport call;
//   - whether an install accepts a manifest it fetched, and which of its
//     cached and newly bundled manifests it keeps after an app update, is
//     decided by trust.State on real signed documents (memoized per pair
//     of documents: see trustTable);
//   - the server side is the rotation plan, rotate.Decide, fed with the
//     adoption the service would measure from the simulated telemetry
//     (latest sighting per install id within the window, ids replaced
//     every telemetry.RotateAfter).
//
// Everything else (sessions, absences, uninstalls, app updates, fetch
// failures, outages) is a model whose parameters are in [Config], with
// defaults and their sources in docs/rotation.md ("Simulation").
//
// [RunWithHooks] hands the install side to real clients: the agreement
// tests (agreement_test.go) replay a fleet's schedule with real SDK
// clients against the real pin service and compare the adoption the
// service measures with the model's, hour by hour.
package fleet

import (
	"errors"
	"fmt"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/rotate"
)

// Config is one simulation. Zero fields take the defaults of [Default].
type Config struct {
	Installs int    `yaml:"installs" json:"installs"`
	Days     int    `yaml:"days" json:"days"`
	Seed     uint64 `yaml:"seed" json:"seed"`

	// Classes are the kinds of users: each install draws one by Share,
	// then has sessions as a Poisson process of SessionsPerDay.
	Classes []Class `yaml:"classes" json:"classes"`
	// SessionHours is how long a session keeps the app running (hours);
	// the SDK refreshes at its start and then on its schedule.
	SessionHours int `yaml:"session_hours" json:"session_hours"`
	// AbsencesPerYear is the rate of long absences per install (the
	// device unused, off or offline), each lasting uniformly between
	// AbsenceMinDays and AbsenceMaxDays.
	AbsencesPerYear float64 `yaml:"absences_per_year" json:"absences_per_year"`
	AbsenceMinDays  float64 `yaml:"absence_min_days" json:"absence_min_days"`
	AbsenceMaxDays  float64 `yaml:"absence_max_days" json:"absence_max_days"`
	// UninstallsPerYear is the rate at which an install is removed; a new
	// install (the latest app version, a new install id) takes its place,
	// so the fleet keeps its size.
	UninstallsPerYear float64 `yaml:"uninstalls_per_year" json:"uninstalls_per_year"`

	// ReleaseEveryDays is the app's release cadence; each release bundles
	// the manifest served ReleaseLagDays before it. The first release is
	// at FirstReleaseDay.
	ReleaseEveryDays float64 `yaml:"release_every_days" json:"release_every_days"`
	FirstReleaseDay  float64 `yaml:"first_release_day" json:"first_release_day"`
	ReleaseLagDays   float64 `yaml:"release_lag_days" json:"release_lag_days"`
	// UpdateCurve is the fraction of installs that installed a release
	// d days after it came out (points in increasing order); after the
	// last point the fraction grows by UpdateTailPerWeek up to UpdateCap
	// (the rest never update).
	UpdateCurve       []CurvePoint `yaml:"update_curve" json:"update_curve"`
	UpdateTailPerWeek float64      `yaml:"update_tail_per_week" json:"update_tail_per_week"`
	UpdateCap         float64      `yaml:"update_cap" json:"update_cap"`

	// FetchFailureRate is the probability that one manifest fetch fails
	// while the app's own requests still go through (a flaky network, a
	// blocked pin-service host). Outages are periods in which every fetch
	// fails (the pin service down, the app's API up).
	FetchFailureRate float64  `yaml:"fetch_failure_rate" json:"fetch_failure_rate"`
	Outages          []Outage `yaml:"outages" json:"outages"`
	// RequestBeforeRefresh: the app's first request of a session is made
	// with the pins held before the launch refresh completes (the SDK's
	// Start refreshes in the background and does not hold requests). When
	// false, requests of a session follow its launch refresh.
	RequestBeforeRefresh bool `yaml:"request_before_refresh" json:"request_before_refresh"`
	// NoHeal turns off the SDK's self-heal (client.Config.NoHealOnFailure):
	// by default a request refused under the pins held makes the install
	// refresh (when client.Schedule.HealAllowed says so) and, if the
	// refresh adopted a manifest pinning the live key, succeed on a second
	// handshake.
	NoHeal bool `yaml:"no_heal" json:"no_heal"`

	// The SDK's schedule (client.NewSchedule applies its defaults).
	RefreshInterval Duration `yaml:"refresh_interval" json:"refresh_interval"`
	RefreshJitter   float64  `yaml:"refresh_jitter" json:"refresh_jitter"`
	RetryMin        Duration `yaml:"retry_min" json:"retry_min"`

	// Window is the service's adoption window (active installs).
	Window Duration `yaml:"window" json:"window"`

	// Plan is the rotation: it starts (the next key is announced) at
	// StartDay.
	Plan Plan `yaml:"plan" json:"plan"`
}

// Class is a kind of user.
type Class struct {
	Name           string  `yaml:"name" json:"name"`
	Share          float64 `yaml:"share" json:"share"`
	SessionsPerDay float64 `yaml:"sessions_per_day" json:"sessions_per_day"`
}

// CurvePoint is one point of the app-update curve.
type CurvePoint struct {
	Day      float64 `yaml:"day" json:"day"`
	Fraction float64 `yaml:"fraction" json:"fraction"`
}

// Outage is a period (hours from the start) in which every fetch fails.
type Outage struct {
	StartHour int `yaml:"start_hour" json:"start_hour"`
	Hours     int `yaml:"hours" json:"hours"`
}

// Plan is the rotation plan's configuration.
type Plan struct {
	StartDay float64 `yaml:"start_day" json:"start_day"`
	// Gate off switches SwitchAfter after the announcement whatever the
	// adoption (rotate.Decide with a threshold of ~0, min clients 1 and
	// SwitchAfter as the hold-down).
	Gate        *bool    `yaml:"gate" json:"gate"`
	Threshold   float64  `yaml:"threshold" json:"threshold"`
	HoldDown    Duration `yaml:"hold_down" json:"hold_down"`
	MinClients  int64    `yaml:"min_clients" json:"min_clients"`
	SwitchAfter Duration `yaml:"switch_after" json:"switch_after"`
}

// GateOn reports whether the plan waits for adoption.
func (p Plan) GateOn() bool { return p.Gate == nil || *p.Gate }

// Duration is a time.Duration spelled like "7d", "36h" or "30m" in YAML
// and JSON.
type Duration time.Duration

// ParseDuration reads a duration with an optional day suffix ("7d").
func ParseDuration(s string) (Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var d float64
		if _, err := fmt.Sscanf(s[:n-1], "%g", &d); err != nil || d < 0 {
			return 0, fmt.Errorf("duration %q: want a number of days like 7d", s)
		}
		return Duration(d * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want 7d, 36h or 30m", s)
	}
	return Duration(d), nil
}

func (d Duration) String() string {
	if d != 0 && time.Duration(d)%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", time.Duration(d)/(24*time.Hour))
	}
	return time.Duration(d).String()
}

// UnmarshalText reads "7d", "36h", "30m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = v
	return err
}

// MarshalText writes d as UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the default fleet: its sources and assumptions are in
// docs/rotation.md ("Simulation").
func Default() Config {
	on := true
	return Config{
		Installs: 100_000, Days: 90, Seed: 1,
		Classes: []Class{
			{Name: "daily", Share: 0.5, SessionsPerDay: 2},
			{Name: "weekly", Share: 0.3, SessionsPerDay: 2.0 / 7},
			{Name: "monthly", Share: 0.2, SessionsPerDay: 1.0 / 30},
		},
		SessionHours:    1,
		AbsencesPerYear: 2, AbsenceMinDays: 7, AbsenceMaxDays: 60,
		UninstallsPerYear: 0.5,
		ReleaseEveryDays:  14, FirstReleaseDay: 3, ReleaseLagDays: 3,
		// neurons.dk (2015): share of ~10,000 active installs on a new
		// release d days after it came out.
		UpdateCurve: []CurvePoint{
			{0, 0}, {1, 0.155}, {2, 0.289}, {3, 0.337}, {4, 0.364}, {5, 0.389}, {6, 0.400},
			{7, 0.421}, {14, 0.484}, {21, 0.526}, {28, 0.559}, {30, 0.568},
		},
		UpdateTailPerWeek:    0.033,
		UpdateCap:            0.9,
		FetchFailureRate:     0.02,
		RequestBeforeRefresh: true,
		Window:               Duration(7 * 24 * time.Hour),
		Plan: Plan{StartDay: 7, Gate: &on, Threshold: rotate.DefaultThreshold, HoldDown: Duration(rotate.DefaultHoldDown),
			MinClients: rotate.DefaultMinClients, SwitchAfter: Duration(24 * time.Hour)},
	}
}

// withDefaults fills zero fields from Default.
func (c Config) withDefaults() Config {
	d := Default()
	if c.Installs == 0 {
		c.Installs = d.Installs
	}
	if c.Days == 0 {
		c.Days = d.Days
	}
	if c.Classes == nil {
		c.Classes = d.Classes
	}
	if c.SessionHours == 0 {
		c.SessionHours = d.SessionHours
	}
	if c.UpdateCurve == nil {
		c.UpdateCurve, c.UpdateTailPerWeek = d.UpdateCurve, d.UpdateTailPerWeek
	}
	if c.UpdateCap == 0 {
		c.UpdateCap = d.UpdateCap
	}
	if c.ReleaseEveryDays == 0 {
		c.ReleaseEveryDays = d.ReleaseEveryDays
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Plan.Gate == nil {
		c.Plan.Gate = d.Plan.Gate
	}
	if c.Plan.Threshold == 0 {
		c.Plan.Threshold = d.Plan.Threshold
	}
	if c.Plan.HoldDown == 0 {
		c.Plan.HoldDown = d.Plan.HoldDown
	}
	if c.Plan.MinClients == 0 {
		c.Plan.MinClients = d.Plan.MinClients
	}
	if c.Plan.SwitchAfter == 0 {
		c.Plan.SwitchAfter = d.Plan.SwitchAfter
	}
	return c
}

// schedule is the SDK's schedule for this configuration.
func (c Config) schedule() client.Schedule {
	return client.NewSchedule(time.Duration(c.RefreshInterval), c.RefreshJitter, time.Duration(c.RetryMin))
}

// Validate refuses a configuration the simulation cannot run.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if c.Installs < 1 || c.Installs > 20_000_000 {
		bad("installs %d: want 1 to 20,000,000", c.Installs)
	}
	if c.Days < 1 || c.Days > 3650 {
		bad("days %d: want 1 to 3650", c.Days)
	}
	share := 0.0
	for _, k := range c.Classes {
		if k.Share < 0 || k.SessionsPerDay <= 0 || k.SessionsPerDay > 24 {
			bad("class %q: share %g, sessions per day %g: want a share >= 0 and 0 < sessions <= 24", k.Name, k.Share, k.SessionsPerDay)
		}
		share += k.Share
	}
	if len(c.Classes) == 0 || share <= 0 {
		bad("classes: at least one with a positive share")
	}
	if c.SessionHours < 1 || c.SessionHours > 24*30 {
		bad("session_hours %d: want 1 to 720", c.SessionHours)
	}
	if c.AbsencesPerYear < 0 || c.UninstallsPerYear < 0 || c.AbsenceMinDays < 0 || c.AbsenceMaxDays < c.AbsenceMinDays {
		bad("absences and uninstalls: rates >= 0, 0 <= absence_min_days <= absence_max_days")
	}
	if c.FetchFailureRate < 0 || c.FetchFailureRate >= 1 {
		bad("fetch_failure_rate %g: want 0 <= rate < 1", c.FetchFailureRate)
	}
	if c.ReleaseEveryDays <= 0 {
		bad("release_every_days %g: want > 0", c.ReleaseEveryDays)
	}
	prev := CurvePoint{-1, 0}
	for _, p := range c.UpdateCurve {
		if p.Day <= prev.Day || p.Fraction < prev.Fraction || p.Fraction > 1 {
			bad("update_curve: days must increase and fractions not decrease within 0..1 (at day %g)", p.Day)
			break
		}
		prev = p
	}
	if c.UpdateCap < 0 || c.UpdateCap > 1 {
		bad("update_cap %g: want 0..1", c.UpdateCap)
	}
	for _, o := range c.Outages {
		if o.StartHour < 0 || o.Hours < 1 {
			bad("outage at hour %d for %d hours: want start >= 0 and at least one hour", o.StartHour, o.Hours)
		}
	}
	if c.Window < Duration(time.Hour) {
		bad("window %v: at least 1h", c.Window)
	}
	if c.Plan.StartDay < 0 || c.Plan.StartDay >= float64(c.Days) {
		bad("plan start_day %g: within the simulated days", c.Plan.StartDay)
	}
	rc := rotate.Config{Threshold: c.Plan.Threshold, HoldDown: time.Duration(c.Plan.HoldDown), MinClients: c.Plan.MinClients}
	if err := rc.Validate(); err != nil {
		bad("plan: %v", err)
	}
	if c.Plan.SwitchAfter < 0 {
		bad("plan switch_after %v: negative", c.Plan.SwitchAfter)
	}
	return errors.Join(errs...)
}
