package client

import "time"

// This file owns WHEN a client refreshes: at start, after a success, after
// consecutive failures, and after a pin failure (HealAllowed: the
// self-heal of heal.go). The background loop of [Client.Start] and the fleet
// simulator (package fleet) both call it, so what `pinset simulate`
// predicts is what the SDK does. WHETHER a fetched document is accepted is
// trust.State's decision (verify.go), never made here.

// Schedule is the refresh timing of a client. Build it with [NewSchedule],
// which applies the defaults of [Config].
type Schedule struct {
	// Interval is the wait between refreshes after a success.
	Interval time.Duration
	// Jitter spreads every wait uniformly by up to this fraction either
	// way (0 to 1; 0 disables it).
	Jitter float64
	// RetryMin is the wait after the first failure; it doubles with each
	// further consecutive failure, up to Interval.
	RetryMin time.Duration
	// HealMin is the least time between two refreshes started by pin
	// failures (see HealAllowed); zero is DefaultHealMin.
	HealMin time.Duration
}

// DefaultHealMin is the least time between two refreshes started by pin
// failures: an interceptor (or a server with an unpinned key) makes every
// request fail, and each failure must not become a request to the pin
// service.
const DefaultHealMin = time.Minute

// The self-heal's refresh is retried after a transient failure: a pin
// failure is the moment a refresh matters most (the request waits for
// it), and one lost fetch (a dropped connection, a 503 from a CDN edge)
// must not fail the request. DefaultHealAttempts is how many refreshes
// one heal makes at most: one more than the AWS SDKs' standard retry mode
// (three attempts; docs.aws.amazon.com/sdkref, "Retry behavior"), because
// this is the one fetch a refused request depends on, and the attempts
// are bounded in time anyway. The first retry waits about
// DefaultHealRetryMin, each next one twice as long (250 ms, 500 ms, 1 s),
// spread by the schedule's jitter. All of them share one FetchTimeout, so
// a heal never holds a request longer than a single refresh could.
// (docs/rotation.md, "Simulation": with 2 % of fetches failing
// independently, three attempts leave about 0.3 installs refused per
// million-install run of the default plan, four about 0.006.)
const (
	DefaultHealAttempts = 4
	DefaultHealRetryMin = 250 * time.Millisecond
)

// NewSchedule returns the schedule a client with these Config fields
// follows: a non-positive interval is DefaultRefreshInterval, a zero
// jitter DefaultRefreshJitter, a negative one none, a jitter above 1 is 1,
// and a non-positive RetryMin is DefaultRetryMin.
func NewSchedule(interval time.Duration, jitter float64, retryMin time.Duration) Schedule {
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	switch {
	case jitter == 0:
		jitter = DefaultRefreshJitter
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	if retryMin <= 0 {
		retryMin = DefaultRetryMin
	}
	return Schedule{Interval: interval, Jitter: jitter, RetryMin: retryMin, HealMin: DefaultHealMin}
}

// HealAllowed reports whether a pin failure at now may start a refresh
// (the self-heal), given when the last one started (zero: never). It is
// the one rule that bounds how often pin failures reach the pin service:
// at most one refresh per HealMin (DefaultHealMin when zero), however
// many requests fail. A clock that went back before last allows one
// (a clock set back must not turn healing off until it catches up).
//
// Only failures of enforced pins count (a report-only policy lets the
// connection through), and only a refresh that adopts a newer manifest,
// one trust.State accepted, leads to a second handshake: the caller
// decides that, this decides only whether to ask the service.
func (s Schedule) HealAllowed(last, now time.Time) bool {
	min := s.HealMin
	if min <= 0 {
		min = DefaultHealMin
	}
	return last.IsZero() || now.Before(last) || now.Sub(last) >= min
}

// HealRetry reports whether the self-heal refreshes once more after
// failed consecutive failed refreshes (1 after the first), and the wait
// before it: at most DefaultHealAttempts refreshes, the waits
// DefaultHealRetryMin doubling, spread by Jitter with rand as in Next (nil:
// no jitter). It is the one rule for retrying the heal's refresh; the
// caller retries only a transient failure (the network, a 5xx or 429
// status), never a document trust refused (the same bytes would be refused
// again) nor another answer of the service, and never with verification
// off. Pin failures alone start heals (HealAllowed bounds how often), so
// the pin service sees at most DefaultHealAttempts refreshes per HealMin
// from one client.
func (s Schedule) HealRetry(failed int, rand func() float64) (time.Duration, bool) {
	if failed < 1 || failed >= DefaultHealAttempts {
		return 0, false
	}
	d := DefaultHealRetryMin << (failed - 1)
	if s.Jitter > 0 && rand != nil {
		d = time.Duration(float64(d) * (1 + s.Jitter*(2*rand()-1)))
	}
	return d, true
}

// FirstRefresh is the wait before the first refresh after Start: none.
// A client refreshes as soon as it starts, whatever its cache says.
func (Schedule) FirstRefresh() time.Duration { return 0 }

// Failures returns the count of consecutive failed refreshes after one
// that succeeded (ok) or failed, given the count before it.
func (Schedule) Failures(before int, ok bool) int {
	if ok {
		return 0
	}
	return before + 1
}

// Next returns the wait before the next refresh after failures
// consecutive failed refreshes (0: the last one succeeded): Interval after
// a success; RetryMin, doubled for each further failure, capped at
// Interval, after failures. The wait is spread by Jitter with rand, a
// uniform number in [0, 1) (nil: no jitter; it is called only when Jitter
// is positive), so that a fleet does not hit the service in step. The
// result is at least a millisecond.
func (s Schedule) Next(failures int, rand func() float64) time.Duration {
	d := s.Interval
	if failures > 0 {
		d = s.RetryMin
		for i := 1; i < failures && d < s.Interval; i++ {
			d *= 2
		}
		if d > s.Interval {
			d = s.Interval
		}
	}
	if s.Jitter > 0 && rand != nil {
		// uniformly in [d*(1-j), d*(1+j)]
		f := 1 + s.Jitter*(2*rand()-1)
		d = time.Duration(float64(d) * f)
	}
	if d <= 0 {
		d = time.Millisecond
	}
	return d
}

// backoff is a Schedule with its source of jitter.
type backoff struct {
	interval time.Duration // regular refresh interval
	jitter   float64       // fraction of the wait, 0..1, spread both ways
	min      time.Duration // first retry after a failure
	rand     func() float64
}

func (b backoff) next(failures int) time.Duration {
	return Schedule{Interval: b.interval, Jitter: b.jitter, RetryMin: b.min}.Next(failures, b.rand)
}
