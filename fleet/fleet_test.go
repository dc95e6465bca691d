package fleet

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/client"
)

func small(gate bool) Config {
	c := Default()
	c.Installs, c.Days = 20_000, 60
	c.Plan.Gate = &gate
	return c
}

// The same seed gives the same run; another seed another one.
func TestDeterministic(t *testing.T) {
	a, err := Run(small(true))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(small(true))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with one seed differ")
	}
	c := small(true)
	c.Seed = 2
	d, _ := Run(c)
	if reflect.DeepEqual(a.Hourly, d.Hourly) {
		t.Fatal("another seed gave the same run")
	}
}

// Switching one day after the announcement leaves ten times more
// installs to heal (their first request refused, a refresh, a second
// handshake) than the gated plan; with the heal's retries a lost fetch
// bricks none of either (2 % of fetches failing, independently). What the
// gate prevents is then what no client can heal: a pin service that cannot
// be reached. The same day-long outage starting at each plan's switch
// bricks many times more installs without the gate.
func TestGateOffBricks(t *testing.T) {
	on, err := Run(small(true))
	if err != nil {
		t.Fatal(err)
	}
	off, err := Run(small(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gate on: %s", on.Summary())
	t.Logf("gate off: %s", off.Summary())
	if off.SwitchHour != off.AnnouncedHour+24 {
		t.Errorf("gate off switched at %d, announced at %d", off.SwitchHour, off.AnnouncedHour)
	}
	if on.SwitchHour < on.AnnouncedHour+7*24 {
		t.Errorf("gated plan switched %d hours after the announcement, before the hold-down", on.SwitchHour-on.AnnouncedHour)
	}
	if on.FinalState != "done" {
		t.Errorf("plan ended %s: %s", on.FinalState, on.BlockedBy)
	}
	if off.HealRefreshes < 5*on.HealRefreshes {
		t.Errorf("heal refreshes: gate off %d, gate on %d", off.HealRefreshes, on.HealRefreshes)
	}
	// The installs refused at least once (healed or not): what the gate
	// spares them.
	if on.RefusedInstalls == 0 || off.RefusedInstalls < 5*on.RefusedInstalls {
		t.Errorf("installs refused at least once: gate off %d, gate on %d", off.RefusedInstalls, on.RefusedInstalls)
	}
	var bricked [2]int64
	for k, r := range []*Result{on, off} {
		c := small(k == 0)
		c.Outages = []Outage{{StartHour: r.SwitchHour, Hours: 24}}
		o, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		if o.SwitchHour != r.SwitchHour || o.BrickedInstalls != o.Causes[CauseHealOutage] {
			t.Errorf("gate %v, outage at the switch: switched at %d (%d without), causes %v", k == 0, o.SwitchHour, r.SwitchHour, o.Causes)
		}
		bricked[k] = o.BrickedInstalls
	}
	t.Logf("a day-long outage at the switch: gate on bricks %d, gate off %d", bricked[0], bricked[1])
	if bricked[0] == 0 || bricked[1] < 5*bricked[0] {
		t.Errorf("a day-long outage at the switch: gate on bricks %d, gate off %d", bricked[0], bricked[1])
	}
}

// With every session's requests after its launch refresh and no fetch
// failures, nobody is refused whatever the plan: the only harm left is
// what the model says it is.
func TestNoRaceNoFailureNoBricks(t *testing.T) {
	c := small(false)
	c.RequestBeforeRefresh, c.FetchFailureRate = false, 0
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.BrickedInstalls != 0 {
		t.Fatalf("bricked %d: %v", r.BrickedInstalls, r.Causes)
	}
	// An outage over the switch, requests after the launch refresh: those
	// that come back during it are refused, for the outage (the
	// self-heal's refresh fails too).
	c.Outages = []Outage{{StartHour: r.SwitchHour, Hours: 48}}
	r, err = Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.BrickedInstalls == 0 || r.Causes[CauseHealOutage] != r.BrickedInstalls {
		t.Fatalf("outage over the switch: bricked %d, causes %v", r.BrickedInstalls, r.Causes)
	}
	c.NoHeal = true
	r, err = Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.BrickedInstalls == 0 || r.Causes[CauseOutage] != r.BrickedInstalls {
		t.Fatalf("outage over the switch, no self-heal: bricked %d, causes %v", r.BrickedInstalls, r.Causes)
	}
}

// The self-heal: a first request refused under the pins held refreshes
// and retries. Without fetch failures nobody is bricked, gate on or off;
// without the self-heal the same fleets are (the launch race). With the
// default 2 % of failed fetches the heal's retries leave none
// (TestDefaultPlanBricksNone); with 30 % (the gate off, so that many
// installs heal), the installs left are those whose every heal fetch
// failed.
func TestHealModel(t *testing.T) {
	for _, gate := range []bool{true, false} {
		c := small(gate)
		c.FetchFailureRate = 0
		r, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		if r.BrickedInstalls != 0 || r.Healed == 0 || !r.Heal {
			t.Errorf("gate %v, no fetch failures: bricked %d %v, healed %d", gate, r.BrickedInstalls, r.Causes, r.Healed)
		}
		// Every healed request was refused first: the installs refused
		// are there, and no more of them than requests healed.
		if r.RefusedInstalls == 0 || r.RefusedInstalls > r.Healed {
			t.Errorf("gate %v, no fetch failures: %d installs refused, %d requests healed", gate, r.RefusedInstalls, r.Healed)
		}
		c.NoHeal = true
		off, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		if off.BrickedInstalls == 0 || off.Causes[CauseLaunchRace] != off.BrickedInstalls || off.HealRefreshes != 0 {
			t.Errorf("gate %v, no self-heal: bricked %d %v", gate, off.BrickedInstalls, off.Causes)
		}
		// Without the self-heal every install refused stays refused.
		if off.RefusedInstalls != off.BrickedInstalls {
			t.Errorf("gate %v, no self-heal: %d installs refused, %d bricked", gate, off.RefusedInstalls, off.BrickedInstalls)
		}
	}
	c := small(false)
	c.FetchFailureRate = 0.3
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.BrickedInstalls == 0 || r.BrickedInstalls != r.Causes[CauseHealFetchFailed] {
		t.Errorf("30 %% of fetches failing: bricked %d in %d install-hours, causes %v", r.BrickedInstalls, r.BrickedInstallHours, r.Causes)
	}
	t.Logf("%s", r.Summary())
}

// The model's heal asks client.Schedule.HealAllowed: a second refused
// request within the heal minimum makes no refresh.
func TestHealUsesScheduleRule(t *testing.T) {
	c := Default().withDefaults()
	c.Installs, c.FetchFailureRate = 1, 0
	s := newSim(c, nil)
	s.live = keyNext // the install's pins (v1) refuse it
	at := int64(24 * 3600)
	if ok, why := s.heal(0, 24, at); ok || why != CauseHealNoNewer {
		t.Fatalf("first heal: %v %q", ok, why)
	}
	if ok, why := s.heal(0, 24, at+30); ok || why != CauseHealLimited || s.res.HealRefreshes != 1 {
		t.Fatalf("second heal 30 s later: %v %q, %d refreshes", ok, why, s.res.HealRefreshes)
	}
	if _, why := s.heal(0, 24, at+int64(client.DefaultHealMin/time.Second)); why == CauseHealLimited || s.res.HealRefreshes != 2 {
		t.Fatalf("heal after the minimum: %q, %d refreshes", why, s.res.HealRefreshes)
	}
}

// The model's heal retries a failed fetch as client.Schedule.HealRetry
// says: with every fetch failing, DefaultHealAttempts fetches and the
// request refused; with the first failing only, healed on the retry.
func TestHealRetriesUseScheduleRule(t *testing.T) {
	c := Default().withDefaults()
	c.Installs, c.FetchFailureRate = 1, 0.999999
	s := newSim(c, nil)
	s.publish(0, 1<<keyLive|1<<keyNext)
	s.live = keyNext
	at := int64(24 * 3600)
	if ok, why := s.heal(0, 24, at); ok || why != CauseHealFetchFailed || s.res.HealRetries != client.DefaultHealAttempts-1 {
		t.Fatalf("every fetch failing: %v %q, %d retries", ok, why, s.res.HealRetries)
	}
	c.FetchFailureRate = 0
	s = newSim(c, nil)
	s.publish(0, 1<<keyLive|1<<keyNext)
	s.live = keyNext
	s.outage[24] = true
	if ok, why := s.heal(0, 24, at); ok || why != CauseHealOutage || s.res.HealRetries != client.DefaultHealAttempts-1 {
		t.Fatalf("outage: %v %q, %d retries", ok, why, s.res.HealRetries)
	}
	if ok, why := s.heal(0, 25, at+3600); !ok || s.res.HealRetries != client.DefaultHealAttempts-1 || s.res.Healed != 1 {
		t.Fatalf("after the outage: %v %q, %d retries", ok, why, s.res.HealRetries)
	}
}

// The default plan bricks none with the default fleet (2 % of fetches
// failing): the heal's retries outlast a lost fetch. Gate off still
// bricks (TestGateOffBricks), so this is not the model going blind.
func TestDefaultPlanBricksNone(t *testing.T) {
	r, err := Run(small(true))
	if err != nil {
		t.Fatal(err)
	}
	if r.BrickedInstalls != 0 || r.HealRetries == 0 {
		t.Fatalf("default plan: bricked %d %v, %d heal retries", r.BrickedInstalls, r.Causes, r.HealRetries)
	}
}

// A plan whose threshold is never met never switches: nobody is refused.
func TestGateHoldsBelowThreshold(t *testing.T) {
	c := small(true)
	c.Plan.Threshold = 1
	c.Days = 30
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.SwitchHour != -1 || r.BrickedInstalls != 0 || r.FinalState != "adopting" || r.BlockedBy == "" {
		t.Fatalf("switch %d, bricked %d, state %s (%s)", r.SwitchHour, r.BrickedInstalls, r.FinalState, r.BlockedBy)
	}
}

// Acceptance is trust's: a lower version is refused, a newer one taken,
// and after an app update the newer of bundled and cached is kept.
func TestTrustTable(t *testing.T) {
	tt := newTrustTable(1, Epoch, 400*24*time.Hour)
	v2 := tt.publish(Epoch.Add(time.Hour), 1<<keyLive|1<<keyNext)
	now := Epoch.Add(2 * time.Hour)
	if !tt.accepts(1, v2, now) || tt.accepts(v2, 1, now) {
		t.Fatal("accept table: want v1→v2 accepted and v2→v1 refused")
	}
	if tt.afterUpdate(1, v2) != v2 || tt.afterUpdate(v2, 1) != v2 {
		t.Fatal("after an app update the newer of bundled and cached is not kept")
	}
	if tt.pins[v2-1] != 1<<keyLive|1<<keyNext {
		t.Fatalf("pins of v2 as trust decoded them: %b", tt.pins[v2-1])
	}
	// An expired manifest is refused by trust, so the table refuses it.
	short := newTrustTable(2, Epoch, time.Hour)
	v := short.publish(Epoch, 1<<keyLive|1<<keyNext)
	if short.accepts(1, v, Epoch.Add(2*time.Hour)) {
		t.Fatal("an expired manifest was accepted")
	}
}

func TestUpdateDelayInvertsTheCurve(t *testing.T) {
	s := &sim{cfg: Default()}
	for _, tc := range []struct{ q, hours float64 }{{0, 0}, {0.155, 24}, {0.421, 7 * 24}, {0.568, 30 * 24}, {0.568 + 0.033, 37 * 24}} {
		if got := s.updateDelay(tc.q); got < tc.hours-0.01 || got > tc.hours+0.01 {
			t.Errorf("updateDelay(%g) = %g hours, want %g", tc.q, got, tc.hours)
		}
	}
	if s.updateDelay(0.95) != -1 {
		t.Error("an install above the update cap updates")
	}
}

func TestValidate(t *testing.T) {
	c := Default()
	c.Installs, c.FetchFailureRate, c.Plan.Threshold = 0, 1, 2
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"installs 0", "fetch_failure_rate 1", "threshold 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// BenchmarkMillion is the performance target: a million installs over 90
// days, hourly (docs/benchmarks.md).
func BenchmarkMillion(b *testing.B) {
	c := Default()
	c.Installs, c.Days = 1_000_000, 90
	b.ReportAllocs()
	for b.Loop() {
		r, err := Run(c)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.BrickedInstalls), "bricked")
	}
}
