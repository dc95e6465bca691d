package fleet

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/telemetry"
)

// Epoch is the simulated start (hour 0).
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Causes of bricking.
const (
	CauseLaunchRace  = "first request of a session before its launch refresh, no successful refresh since the announcement"
	CauseFetchFailed = "launch refresh failed (fetch failure), no successful refresh since the announcement"
	CauseOutage      = "launch refresh failed (pin-service outage), no successful refresh since the announcement"
	CauseRefused     = "the served manifest was refused by trust"
	CauseMidSession  = "the switch came during a session, before the session's next refresh"

	// With the self-heal (the default), a request refused under the pins
	// held is retried after a refresh; these say why that did not help.
	CauseHealFetchFailed = "a request refused under the pins held; the self-heal's refresh failed (fetch failure)"
	CauseHealOutage      = "a request refused under the pins held; the self-heal's refresh failed (pin-service outage)"
	CauseHealRefused     = "a request refused under the pins held; the manifest the self-heal fetched was refused by trust"
	CauseHealNoNewer     = "a request refused under the pins held; the newest manifest the self-heal could verify does not pin the live key"
	CauseHealLimited     = "a request refused under the pins held; no self-heal (one already started within the heal minimum)"
)

// Hooks let a caller replace the install side of the simulation with real
// clients (TestAgreementWithRealClients): the model still draws every
// session, fetch time and fetch failure, and the hooks perform them.
// Refresh performs install i's refresh at time at (fail: the fetch must
// fail, as the network would) and returns whether it succeeded and the
// manifest version the install enforces afterwards. Publish is told
// about every manifest the plan publishes, at the time it is published,
// with the root it is signed under. HourEnd is called after the sessions
// of hour h, when the model records the hour. Nil Hooks: the model.
type Hooks interface {
	Publish(at time.Time, version int, root, manifest []byte)
	Refresh(install int, at time.Time, fail bool) (ok bool, held int)
	// AppUpdate: install i now runs an app bundling version bundled.
	AppUpdate(install int, at time.Time, bundled int) (held int)
	// Reinstall: install i was removed and installed again (new cache, new id) with bundled.
	Reinstall(install int, at time.Time, bundled int)
	HourEnd(h int)
}

// sim is one run. Per-install state is kept as parallel arrays (struct of
// arrays): a million installs are a few tens of megabytes and each hour
// touches only the installs that have an event in it.
type sim struct {
	cfg   Config
	sched client.Schedule
	rng   *rand.Rand
	tt    *trustTable
	hooks Hooks

	hours int
	// per install
	held      []uint8   // manifest version enforced
	app       []uint8   // app release installed
	delay     []float32 // hours after a release before this install updates (-1: never)
	rate      []float32 // sessions per hour
	sessLeft  []uint16  // hours left in the current session (0: none)
	nextFetch []int64   // seconds since Epoch of the next refresh in the session
	failures  []uint8
	lastOK    []int32 // hour of the last successful refresh (-1: none)
	lastSeen  []int32 // hour of the latest sighting of the current install id (-1: none)
	lastVer   []uint8 // version that sighting reported
	idBorn    []int64 // second the install id was drawn (noID: none yet)
	bricked   []bool
	refused   []bool  // a handshake refused under the pins held, at least once
	lastHeal  []int64 // seconds since Epoch of the last self-heal refresh (noHeal: never)

	// buckets[h] are the installs with an event (a session hour) at h.
	buckets [][]int32

	// the service
	served     int   // manifest version served
	live       int   // key served by the API host
	releases   []int // manifest version bundled in release r (release 0: at the start)
	relHour    []int // hour of release r
	seenAt     [][]int32
	winCount   []int64 // active installs by the version of their latest sighting
	holdCount  []int64 // installs by version enforced
	plan       rotate.Plan
	announced  int // hour, -1
	switched   int // hour, -1
	outage     []bool
	res        *Result
	causeCount map[string]int64
}

// Run simulates cfg.
func Run(cfg Config) (*Result, error) { return RunWithHooks(cfg, nil) }

// RunWithHooks simulates cfg with the install side given to hooks (see
// Hooks); hooks may be nil.
func RunWithHooks(cfg Config, hooks Hooks) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newSim(cfg, hooks)
	s.run()
	return s.result(), nil
}

func newSim(cfg Config, hooks Hooks) *sim {
	n := cfg.Installs
	hours := cfg.Days * 24
	s := &sim{
		cfg: cfg, sched: cfg.schedule(), hooks: hooks,
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		tt:        newTrustTable(cfg.Seed, Epoch.Add(-time.Hour), time.Duration(cfg.Days+400)*24*time.Hour),
		hours:     hours,
		held:      make([]uint8, n),
		app:       make([]uint8, n),
		delay:     make([]float32, n),
		rate:      make([]float32, n),
		sessLeft:  make([]uint16, n),
		nextFetch: make([]int64, n),
		failures:  make([]uint8, n),
		lastOK:    make([]int32, n),
		lastSeen:  make([]int32, n),
		lastVer:   make([]uint8, n),
		idBorn:    make([]int64, n),
		bricked:   make([]bool, n),
		refused:   make([]bool, n),
		lastHeal:  make([]int64, n),
		buckets:   make([][]int32, hours),
		served:    1, live: keyLive,
		announced: -1, switched: -1,
		outage:     make([]bool, hours),
		causeCount: map[string]int64{},
		res:        &Result{},
	}
	if hooks != nil {
		hooks.Publish(Epoch.Add(-time.Hour), 1, s.tt.repo.Root(), s.tt.envs[0])
	}
	for _, o := range cfg.Outages {
		for h := o.StartHour; h < o.StartHour+o.Hours && h < hours; h++ {
			s.outage[h] = true
		}
	}
	// Releases: release 0 is what the fleet runs at the start (manifest 1).
	s.releases, s.relHour = []int{1}, []int{math.MinInt32 / 2}
	s.seenAt = make([][]int32, hours)
	s.winCount = make([]int64, 2)
	s.holdCount = make([]int64, 2)
	s.holdCount[1] = int64(n)
	per := s.perHour()
	for i := range n {
		s.lastHeal[i] = noHeal
		s.newInstall(i, -1, per)
		// The fleet at steady state: the next session within the first
		// days, as for an install already running.
		s.lastOK[i] = -1
		s.schedule(i, -1+s.gap(i))
	}
	gate := cfg.Plan.GateOn()
	rc := rotate.Config{Threshold: cfg.Plan.Threshold, HoldDown: time.Duration(cfg.Plan.HoldDown), MinClients: cfg.Plan.MinClients}
	if !gate {
		rc = rotate.Config{Threshold: math.SmallestNonzeroFloat64, HoldDown: time.Duration(cfg.Plan.SwitchAfter), MinClients: 1}
	}
	following := keyPin(keyFollowing)
	s.plan = rotate.Plan{App: s.tt.repo.AppID, Host: Host, NextPin: keyPin(keyNext), OldPin: keyPin(keyLive), FollowingPin: &following, Config: rc}
	return s
}

// perHour returns the session rates of the classes, per hour, with their
// cumulative shares.
func (s *sim) perHour() [][2]float64 {
	total := 0.0
	for _, k := range s.cfg.Classes {
		total += k.Share
	}
	out := make([][2]float64, len(s.cfg.Classes))
	acc := 0.0
	for j, k := range s.cfg.Classes {
		acc += k.Share / total
		out[j] = [2]float64{acc, k.SessionsPerDay / 24}
	}
	return out
}

// newInstall draws install i's user (class, update speed) at hour h.
func (s *sim) newInstall(i, h int, per [][2]float64) {
	u := s.rng.Float64()
	j := sort.Search(len(per), func(j int) bool { return per[j][0] > u })
	if j == len(per) {
		j--
	}
	s.rate[i] = float32(per[j][1])
	s.delay[i] = float32(s.updateDelay(s.rng.Float64()))
	s.lastSeen[i] = -1
	s.idBorn[i] = noID
	s.failures[i] = 0
	s.sessLeft[i] = 0
	// The app installed at h is the latest release out by then.
	r := s.releaseAt(h)
	s.app[i] = uint8(r)
	if s.hooks != nil && h >= 0 {
		s.hooks.Reinstall(i, s.at(h), s.releases[r])
	}
	s.setHeld(i, s.releases[r])
}

func (s *sim) setHeld(i, v int) {
	old := int(s.held[i])
	if old == v {
		return
	}
	if old != 0 {
		s.holdCount[old]--
	}
	s.held[i] = uint8(v)
	s.holdCount[v]++
}

// updateDelay maps a quantile to hours after a release (the inverse of
// the update curve); -1 for never.
func (s *sim) updateDelay(q float64) float64 {
	c := s.cfg.UpdateCurve
	if len(c) == 0 || q >= s.cfg.UpdateCap {
		return -1
	}
	prev := CurvePoint{0, 0}
	for _, p := range c {
		if q < p.Fraction {
			f := (q - prev.Fraction) / (p.Fraction - prev.Fraction)
			return 24 * (prev.Day + f*(p.Day-prev.Day))
		}
		prev = p
	}
	if s.cfg.UpdateTailPerWeek <= 0 {
		return -1
	}
	return 24 * (prev.Day + 7*(q-prev.Fraction)/s.cfg.UpdateTailPerWeek)
}

// releaseAt is the latest release out at hour h.
func (s *sim) releaseAt(h int) int {
	r := 0
	for k := range s.relHour {
		if s.relHour[k] <= h {
			r = k
		}
	}
	return r
}

// gap draws the hours until install i's next session (at least 1),
// through absences and uninstalls.
func (s *sim) gap(i int) int {
	g := s.rng.ExpFloat64() / float64(s.rate[i])
	days := g / 24
	if a := s.cfg.AbsencesPerYear; a > 0 && s.rng.Float64() < -math.Expm1(-a*days/365) {
		g += 24 * (s.cfg.AbsenceMinDays + s.rng.Float64()*(s.cfg.AbsenceMaxDays-s.cfg.AbsenceMinDays))
	}
	return max(1, int(math.Ceil(g)))
}

func (s *sim) schedule(i, h int) {
	if h < 0 || h >= s.hours {
		return
	}
	s.buckets[h] = append(s.buckets[h], int32(i))
}

func (s *sim) at(h int) time.Time { return Epoch.Add(time.Duration(h) * time.Hour) }

func (s *sim) run() {
	start := int(s.cfg.Plan.StartDay * 24)
	nextRelease := s.cfg.FirstReleaseDay * 24
	per := s.perHour()
	s.res.Hourly = make([]Hour, 0, s.hours)
	for h := range s.hours {
		// The service's window slides.
		if old := h - int(time.Duration(s.cfg.Window)/time.Hour); old >= 0 {
			for v, c := range s.seenAt[old] {
				s.winCount[v] -= int64(c)
			}
			s.seenAt[old] = nil
		}
		for float64(h) >= nextRelease {
			lag := max(0, h-int(s.cfg.ReleaseLagDays*24))
			s.releases = append(s.releases, s.servedAt(lag))
			s.relHour = append(s.relHour, h)
			nextRelease += s.cfg.ReleaseEveryDays * 24
		}
		if h >= start {
			s.stepPlan(h)
		}
		b := s.buckets[h]
		s.buckets[h] = nil
		// In index order: the parallel arrays are then read nearly in
		// sequence rather than at random (a million installs do not fit
		// in a cache).
		slices.Sort(b)
		for _, i := range b {
			s.sessionHour(int(i), h, per)
		}
		s.record(h)
		if s.hooks != nil {
			s.hooks.HourEnd(h)
		}
	}
}

// servedAt is the version that was served at hour h (for release
// bundling): the latest published at or before h.
func (s *sim) servedAt(h int) int {
	v := 1
	for k, ph := range s.res.published {
		if ph <= h {
			v = k + 2
		}
	}
	return v
}

// sessionHour runs one hour of install i's session (starting one if none
// runs).
func (s *sim) sessionHour(i, h int, per [][2]float64) {
	first := s.sessLeft[i] == 0
	t0 := int64(h) * 3600
	if first {
		// Removed since the last session? A new install takes the slot.
		if u := s.cfg.UninstallsPerYear; u > 0 && s.rng.Float64() < -math.Expm1(-u*float64(h-int(s.lastActive(i)))/(24*365)) {
			s.newInstall(i, h, per)
		}
		s.appUpdate(i, h)
		s.sessLeft[i] = uint16(s.cfg.SessionHours)
		s.failures[i] = 0
		s.nextFetch[i] = t0 + int64(s.rng.IntN(3600)) + int64(s.sched.FirstRefresh()/time.Second)
	}
	refused, cause := false, ""
	if first && s.cfg.RequestBeforeRefresh && !s.covers(i) {
		// The first request, under the pins held, before the launch
		// refresh: refused, unless the self-heal's refresh repairs it.
		if ok, why := s.heal(i, h, t0); !ok {
			refused, cause = true, why
			if cause == "" {
				cause = CauseLaunchRace
			}
		}
	}
	fetchCause := ""
	for s.nextFetch[i] < t0+3600 {
		at := s.nextFetch[i]
		ok, why := s.fetch(i, h, at)
		if !ok {
			fetchCause = why
		}
		s.failures[i] = uint8(min(200, s.sched.Failures(int(s.failures[i]), ok)))
		s.nextFetch[i] = at + int64(s.sched.Next(int(s.failures[i]), s.rng.Float64)/time.Second)
	}
	if !s.covers(i) && !refused {
		// The session's requests in this hour, under pins that refuse the
		// live key (the launch refresh failed, or the switch came during
		// the session): the self-heal at the first of them, mid-hour.
		if ok, why := s.heal(i, h, t0+1800); !ok {
			refused, cause = true, why
			if cause == "" {
				cause = fetchCause
			}
			if cause == "" {
				cause = CauseMidSession
			}
		}
	}
	if refused {
		s.brick(i, cause)
	}
	s.sessLeft[i]--
	if s.sessLeft[i] > 0 {
		s.schedule(i, h+1)
	} else {
		s.schedule(i, h+s.gap(i))
	}
}

func (s *sim) lastActive(i int) int32 { return max(s.lastOK[i], s.lastSeen[i], 0) }

// appUpdate installs the latest release install i is due for.
func (s *sim) appUpdate(i, h int) {
	d := s.delay[i]
	if d < 0 {
		return
	}
	r := int(s.app[i])
	for k := r + 1; k < len(s.relHour); k++ {
		if float64(s.relHour[k])+float64(d) <= float64(h) {
			r = k
		}
	}
	if r == int(s.app[i]) {
		return
	}
	s.app[i] = uint8(r)
	var v int
	if s.hooks != nil {
		v = s.hooks.AppUpdate(i, s.at(h), s.releases[r])
	} else {
		v = s.tt.afterUpdate(s.releases[r], int(s.held[i]))
	}
	s.setHeld(i, v)
}

// fetch is one refresh of install i at second at of hour h.
func (s *sim) fetch(i, h int, at int64) (bool, string) {
	fail, why := false, ""
	switch {
	case s.outage[h]:
		fail, why = true, CauseOutage
	case s.cfg.FetchFailureRate > 0 && s.rng.Float64() < s.cfg.FetchFailureRate:
		fail, why = true, CauseFetchFailed
	}
	now := time.Unix(at, 0).Sub(time.Unix(0, 0))
	t := Epoch.Add(now)
	if s.hooks != nil {
		before := int(s.held[i])
		ok, v := s.hooks.Refresh(i, t, fail)
		if !fail {
			s.sight(i, h, at, before)
		}
		s.setHeld(i, v)
		if ok {
			s.lastOK[i] = int32(h)
			return true, ""
		}
		if why == "" {
			why = CauseRefused
		}
		return false, why
	}
	if fail {
		return false, why
	}
	s.sight(i, h, at, int(s.held[i]))
	if s.tt.accepts(int(s.held[i]), s.served, t) {
		s.setHeld(i, s.served)
	} else if int(s.held[i]) != s.served {
		return false, CauseRefused
	}
	s.lastOK[i] = int32(h)
	return true, ""
}

// noHeal marks an install that has not healed yet.
const noHeal = math.MinInt64

// heal is the SDK's self-heal (client/heal.go) after a request of install
// i at second at (of hour h) was refused under the pins it holds: if
// client.Schedule.HealAllowed lets it, one refresh (a fetch like any
// other: it fails in an outage or with FetchFailureRate, and what it
// adopts is trust's decision), made again after a failed fetch as
// client.Schedule.HealRetry allows; the request is retried, and succeeds, only
// if the install's pins then cover the live key. It returns whether the
// request succeeded and, when not, why ("" when healing is off).
func (s *sim) heal(i, h int, at int64) (bool, string) {
	if !s.refused[i] {
		s.refused[i] = true
		s.res.RefusedInstalls++
	}
	if s.cfg.NoHeal {
		return false, ""
	}
	now := Epoch.Add(time.Duration(at) * time.Second)
	var last time.Time
	if s.lastHeal[i] != noHeal {
		last = Epoch.Add(time.Duration(s.lastHeal[i]) * time.Second)
	}
	if !s.sched.HealAllowed(last, now) {
		return false, CauseHealLimited
	}
	s.lastHeal[i] = at
	s.res.HealRefreshes++
	ok, why := s.fetch(i, h, at)
	// A failed fetch is made again as client.Schedule.HealRetry allows
	// (healRefresh in client/heal.go: the model's fetch failures and
	// outages are the transient failures it retries), each attempt failing
	// on its own with FetchFailureRate, and all of them in an outage; a
	// manifest trust refused is not fetched again. The waits (under a
	// second in all) are within the second the model counts in, so no
	// jitter is drawn for them.
	for failed := 1; !ok && why != CauseRefused; failed++ {
		if _, again := s.sched.HealRetry(failed, nil); !again {
			break
		}
		s.res.HealRetries++
		ok, why = s.fetch(i, h, at)
	}
	switch {
	case !ok && why == CauseOutage:
		return false, CauseHealOutage
	case !ok && why == CauseFetchFailed:
		return false, CauseHealFetchFailed
	case !ok:
		return false, CauseHealRefused
	case !s.covers(i):
		return false, CauseHealNoNewer
	}
	s.res.Healed++
	return true, ""
}

// noID marks an install that has not drawn its install id yet.
const noID = math.MinInt64

// sight records a manifest fetch at second at of hour h as the service
// counts it: the latest sighting per install id within the window, by the
// version it named. The id is the SDK's (client/telemetry.go): drawn at
// the install's first manifest fetch, replaced at the first one
// telemetry.RotateAfter after that.
func (s *sim) sight(i, h int, at int64, v int) {
	if s.idBorn[i] == noID || at-s.idBorn[i] >= int64(telemetry.RotateAfter/time.Second) {
		// A new install id: the old one's sighting stays until it ages out.
		s.idBorn[i] = at
		s.lastSeen[i] = -1
	}
	w := int32(time.Duration(s.cfg.Window) / time.Hour)
	if ls := s.lastSeen[i]; ls >= 0 && ls > int32(h)-w {
		s.seenAt[ls][s.lastVer[i]]--
		s.winCount[s.lastVer[i]]--
	}
	for len(s.seenAt[h]) <= v {
		s.seenAt[h] = append(s.seenAt[h], 0)
	}
	s.seenAt[h][v]++
	s.winCount[v]++
	s.lastSeen[i], s.lastVer[i] = int32(h), uint8(v)
}

// covers reports whether install i's pins cover the key the API serves.
func (s *sim) covers(i int) bool { return s.tt.pins[s.held[i]-1]&(1<<s.live) != 0 }

// brick counts an hour in which install i was refused, and the install
// (with its cause) the first time.
func (s *sim) brick(i int, cause string) {
	s.res.BrickedInstallHours++
	if !s.bricked[i] {
		s.bricked[i] = true
		s.res.BrickedInstalls++
		s.causeCount[cause]++
	}
}
