package client

import (
	"slices"
	"testing"
	"time"
)

func TestNewScheduleDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		jitter   float64
		retry    time.Duration
		want     Schedule
	}{
		{"all defaults", 0, 0, 0, Schedule{DefaultRefreshInterval, DefaultRefreshJitter, DefaultRetryMin, DefaultHealMin}},
		{"negative interval and retry are defaults", -time.Second, 0.2, -time.Second, Schedule{DefaultRefreshInterval, 0.2, DefaultRetryMin, DefaultHealMin}},
		{"negative jitter disables it", 6 * time.Hour, -1, time.Minute, Schedule{6 * time.Hour, 0, time.Minute, DefaultHealMin}},
		{"jitter capped at 1", time.Hour, 3, time.Second, Schedule{time.Hour, 1, time.Second, DefaultHealMin}},
	} {
		if got := NewSchedule(tc.interval, tc.jitter, tc.retry); got != tc.want {
			t.Errorf("%s: NewSchedule(%v, %v, %v) = %+v, want %+v", tc.name, tc.interval, tc.jitter, tc.retry, got, tc.want)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	s := Schedule{Interval: time.Hour, RetryMin: 30 * time.Second}
	j := Schedule{Interval: time.Hour, RetryMin: 30 * time.Second, Jitter: 0.1}
	fixed := func(u float64) func() float64 { return func() float64 { return u } }
	for _, tc := range []struct {
		name     string
		s        Schedule
		failures int
		rand     func() float64
		want     time.Duration
	}{
		{"after a success: the interval", s, 0, nil, time.Hour},
		{"first failure: RetryMin", s, 1, nil, 30 * time.Second},
		{"second failure doubles", s, 2, nil, time.Minute},
		{"fifth failure", s, 5, nil, 8 * time.Minute},
		{"capped at the interval", s, 40, nil, time.Hour},
		{"jitter low end", j, 0, fixed(0), 54 * time.Minute},
		{"jitter middle", j, 0, fixed(0.5), time.Hour},
		{"jitter on a retry", j, 1, fixed(0), 27 * time.Second},
		{"jitter without a source: none", j, 0, nil, time.Hour},
		{"never zero", Schedule{Interval: time.Nanosecond, Jitter: 1}, 0, fixed(0), time.Millisecond},
	} {
		if got := tc.s.Next(tc.failures, tc.rand); got != tc.want {
			t.Errorf("%s: Next(%d) = %v, want %v", tc.name, tc.failures, got, tc.want)
		}
	}
	// rand is not consumed when there is no jitter (Config.Rand also feeds
	// other draws, whose sequence must not shift).
	called := false
	s.Next(0, func() float64 { called = true; return 0 })
	if called {
		t.Error("Next drew a random number with jitter 0")
	}
	if hi := j.Next(0, fixed(0.999999)); hi < 65*time.Minute || hi > 66*time.Minute {
		t.Errorf("jitter high end %v, want about 66m", hi)
	}
}

func TestScheduleFailuresAndStart(t *testing.T) {
	var s Schedule
	if s.FirstRefresh() != 0 {
		t.Error("a client waits before its first refresh")
	}
	for _, tc := range []struct {
		before int
		ok     bool
		want   int
	}{{0, true, 0}, {3, true, 0}, {0, false, 1}, {3, false, 4}} {
		if got := s.Failures(tc.before, tc.ok); got != tc.want {
			t.Errorf("Failures(%d, %v) = %d, want %d", tc.before, tc.ok, got, tc.want)
		}
	}
}

// At most one refresh per HealMin starts from pin failures, whatever their
// number; the first one always may.
func TestScheduleHealAllowed(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := NewSchedule(0, 0, 0)
	for _, tc := range []struct {
		name      string
		s         Schedule
		last, now time.Time
		want      bool
	}{
		{"never healed", s, time.Time{}, t0, true},
		{"just healed", s, t0, t0, false},
		{"within the minimum", s, t0, t0.Add(59 * time.Second), false},
		{"at the minimum", s, t0, t0.Add(time.Minute), true},
		{"long after", s, t0, t0.Add(24 * time.Hour), true},
		{"clock set back", s, t0, t0.Add(-time.Hour), true},
		{"zero HealMin is the default", Schedule{}, t0, t0.Add(30 * time.Second), false},
		{"a longer minimum", Schedule{HealMin: 5 * time.Minute}, t0, t0.Add(2 * time.Minute), false},
	} {
		if got := tc.s.HealAllowed(tc.last, tc.now); got != tc.want {
			t.Errorf("%s: HealAllowed(%v, %v) = %v, want %v", tc.name, tc.last, tc.now, got, tc.want)
		}
	}
}

// The heal's retries: DefaultHealAttempts refreshes in all, the waits
// doubling from DefaultHealRetryMin, spread by the jitter.
func TestHealRetry(t *testing.T) {
	s := Schedule{Jitter: 0.1}
	var got, low []time.Duration
	for n := 0; n < 10; n++ {
		if d, ok := s.HealRetry(n, nil); ok {
			got = append(got, d)
		}
		if d, ok := s.HealRetry(n, func() float64 { return 0 }); ok {
			low = append(low, d)
		}
	}
	want := []time.Duration{DefaultHealRetryMin, 2 * DefaultHealRetryMin, 4 * DefaultHealRetryMin}
	if len(got) != DefaultHealAttempts-1 || !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if want := []time.Duration{DefaultHealRetryMin * 9 / 10, 2 * DefaultHealRetryMin * 9 / 10, 4 * DefaultHealRetryMin * 9 / 10}; !slices.Equal(low, want) {
		t.Fatalf("waits with the lowest jitter %v, want %v", low, want)
	}
}
