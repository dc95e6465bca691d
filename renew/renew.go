// Package renew runs the ACME schedule inside `pinset serve`: for every
// configured host ([Target]) it keeps the certificate of the key the
// server serves fresh, keeping the key (the pin does not change), and gets
// the certificate of the host's next key ahead of its switch, so that a
// rotation plan's switch needs no CA.
//
// # What one tick does
//
// [Scheduler.Tick] reads the clock once ([Config.Now]) and, for each host
// that is not backing off:
//
//  1. opens the host's key ring (package keyring); the served key is the
//     key of the chain in the deploy target's certificate file, which the
//     ring must hold (after a switch that is the plan's next key), or the
//     ring's live key when there is no such file yet (servedKey);
//  2. reads the served key's kept chain (keyring.Ring.Chain, checked by
//     certs.CheckStored); with none, adopts the server's file when it is
//     usable for that key;
//  3. asks the CA for renewal information (RFC 9773, certs.FetchRenewalInfo)
//     when the last answer's Retry-After has passed, and schedules the
//     renewal with certs.Schedule: at a point of the CA's window drawn
//     once per certificate, else at two thirds of the lifetime;
//  4. when it is due (or there is no usable chain), issues a new
//     certificate for the same key (Target.Issue), keeps it in the ring
//     and deploys it (deploy.Deploy: write, reload, verify every address,
//     roll back on a mismatch);
//  5. does steps 2 to 4, without deploying, for the next key: the first
//     key of the ring's next list that is not served.
//
// # Failures
//
// A failed step ends the host's tick; the host then waits [Backoff]
// (exponential from RetryMin to RetryMax, with jitter from Config.Rand)
// before the next attempt. Nothing is silent: each failure is logged,
// counted (pinset_acme_renewals_total{result}), and [Scheduler.Status]
// says when a host is failing (FailingAfter failures in a row) or a
// renewal is overdue; the monitor turns those into alerts. The state that
// matters survives a restart: it is the key ring and the server's files.
package renew

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

// Defaults.
const (
	DefaultInterval     = time.Minute
	DefaultFailingAfter = 3
	DefaultRetryMin     = time.Minute
	DefaultRetryMax     = 6 * time.Hour
	DefaultOverdueAfter = time.Hour
	// DefaultARIInterval is how long renewal information is kept when
	// the CA sent no Retry-After, or has no ARI at all (RFC 9773 §4.3:
	// six hours), and the longest wait after failed polls.
	DefaultARIInterval = 6 * time.Hour
	// MinARIInterval and MaxARIInterval clamp the CA's Retry-After (the
	// example limits of RFC 9773 §4.3): a CA cannot make the service poll
	// every second, nor stop polling for a month.
	MinARIInterval = time.Minute
	MaxARIInterval = 24 * time.Hour
)

// Key roles: the "key" label of the metrics and of Status.
const (
	Live = "live" // the key the server serves
	Next = "next" // the key that becomes live at the next switch
)

// Config configures a Scheduler.
type Config struct {
	// Targets are the hosts; Host must differ between them.
	Targets []Target
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1): the point of an ARI window and
	// the backoff's jitter. Nil means math/rand/v2.
	Rand func() float64
	// Logger receives a line per renewal and per failure; nil discards.
	Logger *slog.Logger
	// Interval is how often Run ticks (on the wall clock).
	Interval time.Duration
	// FailingAfter is how many failures in a row make a host failing.
	FailingAfter int
	// RetryMin and RetryMax bound the backoff after a failure.
	RetryMin, RetryMax time.Duration
	// OverdueAfter is how long past its renewal time a certificate may
	// stay unrenewed before it counts as overdue without any failure.
	OverdueAfter time.Duration
}

// Scheduler runs the schedule. It is safe for concurrent use.
type Scheduler struct {
	cfg   Config
	runMu sync.Mutex // one tick at a time

	mu    sync.Mutex // guards hosts (Status reads them)
	hosts []hostState

	renewals *prometheus.CounterVec
}

type hostState struct {
	failures    int
	nextAttempt time.Time
	lastErr     string
	lastSuccess time.Time
	keys        [2]keyState // Live, Next
}

// keyState is what the scheduler knows of one key's certificate.
type keyState struct {
	pin                 pin.Pin
	serial              string
	notBefore, notAfter time.Time
	pick                float64
	ari                 *certs.RenewalInfo
	ariNext             time.Time
	ariErr              string
	ariFailures         int
	missingSince        time.Time // no usable chain since then; zero when there is one
}

// New returns a Scheduler; it does nothing until Tick or Run.
func New(cfg Config) (*Scheduler, error) {
	for i, t := range cfg.Targets {
		if t.Host == "" || t.KeyRing == "" {
			return nil, fmt.Errorf("ACME schedule: target %d needs a host and a key ring", i)
		}
		if _, err := certs.NormalizeDomains(t.DomainList()); err != nil {
			return nil, fmt.Errorf("ACME schedule: %s: %w", t.Host, err)
		}
		for _, o := range cfg.Targets[:i] {
			if o.Host == t.Host {
				return nil, fmt.Errorf("ACME schedule: host %s is listed twice", t.Host)
			}
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, DefaultInterval)
	def(&cfg.RetryMin, DefaultRetryMin)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.OverdueAfter, DefaultOverdueAfter)
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = cfg.RetryMin
	}
	if cfg.FailingAfter <= 0 {
		cfg.FailingAfter = DefaultFailingAfter
	}
	return &Scheduler{cfg: cfg, hosts: make([]hostState, len(cfg.Targets)), renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_acme_renewals_total",
		Help: "Certificates asked of the ACME CA by the schedule, per host, key (live or next) and result (ok, issue_error, deploy_error).",
	}, []string{"host", "key", "result"})}, nil
}

// Run ticks now and then every Interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("acme schedule", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick does what is due for every host now (see the package comment). It
// returns the failures of this tick, joined; each is also logged and kept
// in Status.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	now := s.cfg.Now()
	var errs []error
	for i := range s.cfg.Targets {
		tg := &s.cfg.Targets[i]
		s.mu.Lock()
		hs := s.hosts[i]
		s.mu.Unlock()
		if now.Before(hs.nextAttempt) {
			continue
		}
		err := s.host(ctx, tg, &hs, now)
		if err != nil {
			hs.failures++
			wait := Backoff(hs.failures, s.cfg.RetryMin, s.cfg.RetryMax, s.cfg.Rand())
			hs.nextAttempt, hs.lastErr = now.Add(wait), redact.Text(err.Error())
			s.cfg.Logger.Warn("acme schedule: host failed", "host", tg.Host, "failures", hs.failures, "retry_in", wait, "err", hs.lastErr)
			errs = append(errs, fmt.Errorf("%s: %w", tg.Host, err))
		} else {
			hs.failures, hs.nextAttempt, hs.lastErr = 0, time.Time{}, ""
		}
		s.mu.Lock()
		s.hosts[i] = hs
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Backoff is the wait after n failures in a row: lo doubled n-1 times,
// at most hi, of which the second half is jitter (r in [0, 1]), so that
// hosts that failed together do not retry together.
func Backoff(n int, lo, hi time.Duration, r float64) time.Duration {
	d := hi
	if n >= 1 && n < 40 && lo<<(n-1) > 0 && lo<<(n-1) < hi {
		d = lo << (n - 1)
	}
	r = max(0, min(r, 1))
	return d/2 + time.Duration(r*float64(d/2))
}

// host is one host's tick, under the target's lock. The next key is
// looked after even when the served key's renewal or deploy failed.
func (s *Scheduler) host(ctx context.Context, tg *Target, hs *hostState, now time.Time) error {
	defer tg.Lock()()
	ring, err := keyring.Open(tg.KeyRing, tg.Host)
	if err != nil {
		return err
	}
	served, err := servedKey(tg, ring)
	if err != nil {
		return err
	}
	live, next := &hs.keys[0], &hs.keys[1]
	if next.pin == served && live.pin != served {
		// The switch made the next key the served one: what is known of
		// its certificate carries over.
		*live, *next = *next, keyState{}
	}
	live.use(served)
	renewed, liveErr := s.keep(ctx, tg, ring, live, Live, now)
	if liveErr == nil {
		if liveErr = s.deployServed(ctx, tg, ring, served); liveErr != nil {
			s.renewals.WithLabelValues(tg.Host, Live, "deploy_error").Inc()
		}
	}
	i := slices.IndexFunc(ring.State().Next, func(p pin.Pin) bool { return p != served })
	if i < 0 {
		*next = keyState{}
		return liveErr
	}
	next.use(ring.State().Next[i])
	renewedNext, nextErr := s.keep(ctx, tg, ring, next, Next, now)
	if renewed || renewedNext {
		hs.lastSuccess = now
	}
	return errors.Join(liveErr, nextErr)
}

// use points ks at key p, forgetting what it knew of another key.
func (ks *keyState) use(p pin.Pin) {
	if ks.pin != p {
		*ks = keyState{pin: p}
	}
}

// servedKey decides which key the schedule renews: the key of the chain in
// the target's certificate file, which the ring must hold (live, next, or
// retired: a plan aborted after the ring was promoted by hand), or, when
// there is no such file yet, the ring's live key. A file for a key the
// ring does not hold is an error (ForeignKeyError), not replaced: the
// schedule never changes the key a server serves; keys change only
// through a rotation plan's switch or rollback, after the manifest pins
// the new one.
func servedKey(tg *Target, ring *keyring.Ring) (pin.Pin, error) {
	st := ring.State()
	b, err := readServed(tg)
	if err != nil {
		return pin.Pin{}, err
	}
	if b == nil {
		if st.Live.IsZero() {
			return pin.Pin{}, fmt.Errorf("the key ring of %s has no live key (pinset key new --tls --ring %s --host %s)", tg.Host, tg.KeyRing, tg.Host)
		}
		return st.Live, nil
	}
	p, err := keyring.ChainPin(b)
	if err != nil {
		return pin.Pin{}, fmt.Errorf("%s: %w", tg.Deploy.CertFile, err)
	}
	if p != st.Live && !slices.Contains(st.Next, p) && !slices.Contains(st.Retired, p) {
		return pin.Pin{}, &ForeignKeyError{Host: tg.Host, File: tg.Deploy.CertFile, Served: p, Live: st.Live}
	}
	return p, nil
}

// ForeignKeyError: the server's certificate is for a key its ring does
// not hold. The schedule does not replace it.
type ForeignKeyError struct {
	Host, File   string
	Served, Live pin.Pin
}

func (e *ForeignKeyError) Error() string {
	return fmt.Sprintf("%s holds a certificate for key %s, which the key ring of %s does not hold; the schedule renews only "+
		"the key a server serves and does not replace it with the live key %s: add the key to the ring, or deploy the live key "+
		"once the manifest pins it", e.File, e.Served, e.Host, e.Live)
}

// readServed reads the target's certificate file; nil when there is none.
func readServed(tg *Target) ([]byte, error) {
	if _, err := os.Stat(tg.Deploy.CertFile); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return input.Read(tg.Deploy.CertFile, keyring.MaxChainFile)
}

// keep makes sure the ring holds a chain for ks.pin that is not due for
// renewal, and says whether it asked the CA for one.
func (s *Scheduler) keep(ctx context.Context, tg *Target, ring *keyring.Ring, ks *keyState, role string, now time.Time) (bool, error) {
	chain, _, err := tg.StoredChain(ring, ks.pin, now)
	if errors.Is(err, fs.ErrNotExist) && role == Live {
		chain, err = adopt(tg, ring, ks.pin, now)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.cfg.Logger.Warn("acme schedule: kept certificate not usable; a new one is asked for", "host", tg.Host, "key", role, "pin", ks.pin.String(), "err", err)
	}
	if chain != nil {
		ks.observe(chain[0], s.cfg.Rand)
		s.fetchARI(ctx, tg, ks, chain[0], role, now)
		plan := certs.Schedule(ks.notBefore, ks.notAfter, ks.ari, now, ks.pick)
		if !plan.Due {
			return false, nil
		}
		s.cfg.Logger.Info("acme schedule: renewal due", "host", tg.Host, "key", role, "pin", ks.pin.String(), "at", plan.At, "source", plan.Source)
	} else if ks.missingSince.IsZero() {
		ks.missingSince = now
	}
	key, err := ring.Key(ks.pin)
	if err != nil {
		s.renewals.WithLabelValues(tg.Host, role, "issue_error").Inc()
		return false, err
	}
	res, err := tg.Issue(ctx, key)
	if err == nil {
		err = ring.SaveChain(ks.pin, res.ChainPEM())
	}
	if err != nil {
		s.renewals.WithLabelValues(tg.Host, role, "issue_error").Inc()
		return false, fmt.Errorf("certificate for the %s key %s: %w", role, ks.pin, err)
	}
	s.renewals.WithLabelValues(tg.Host, role, "ok").Inc()
	ks.observe(res.Chain[0], s.cfg.Rand)
	s.fetchARI(ctx, tg, ks, res.Chain[0], role, now)
	s.cfg.Logger.Info("acme schedule: certificate issued", "host", tg.Host, "key", role, "pin", ks.pin.String(),
		"serial", ks.serial, "not_after", ks.notAfter)
	return true, nil
}

// observe records the leaf in use; a new certificate gets a new point in
// the CA's window and asks for renewal information again.
func (ks *keyState) observe(leaf *x509.Certificate, rnd func() float64) {
	serial := leaf.SerialNumber.Text(16)
	if serial != ks.serial {
		ks.serial, ks.notBefore, ks.notAfter = serial, leaf.NotBefore, leaf.NotAfter
		ks.pick, ks.ari, ks.ariNext, ks.ariErr, ks.ariFailures = rnd(), nil, time.Time{}, "", 0
	}
	ks.missingSince = time.Time{}
}

// adopt keeps the server's chain in the ring when it is usable for p: a
// host whose certificate was deployed before the schedule ran.
func adopt(tg *Target, ring *keyring.Ring, p pin.Pin, now time.Time) ([]*x509.Certificate, error) {
	b, err := readServed(tg)
	if err != nil || b == nil {
		return nil, fs.ErrNotExist
	}
	chain, err := certs.CheckStored(b, p, tg.DomainList(), now)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	if err := ring.SaveChain(p, b); err != nil {
		return nil, err
	}
	return chain, nil
}

// fetchARI asks for renewal information once the last answer's
// Retry-After has passed. RFC 9773 §4.3 ("Client handling of
// Retry-After", "Error handling"): the Retry-After is clamped to one
// minute .. one day, and six hours stand in for a missing one; a failed
// poll backs off exponentially from RetryMin up to those six hours. A
// failure keeps the last window (or none: two thirds of the lifetime)
// and is logged and shown.
func (s *Scheduler) fetchARI(ctx context.Context, tg *Target, ks *keyState, leaf *x509.Certificate, role string, now time.Time) {
	if now.Before(ks.ariNext) {
		return
	}
	ri, err := certs.FetchRenewalInfo(ctx, tg.ACME.HTTPClient, tg.ACME.DirectoryURL, leaf, now)
	switch {
	case err == nil:
		ks.ari, ks.ariErr, ks.ariFailures = ri, "", 0
		wait := ri.RetryAfter
		if wait <= 0 {
			wait = DefaultARIInterval
		}
		ks.ariNext = now.Add(max(MinARIInterval, min(wait, MaxARIInterval)))
	case errors.Is(err, certs.ErrNoARI):
		ks.ari, ks.ariErr, ks.ariFailures, ks.ariNext = nil, "", 0, now.Add(DefaultARIInterval)
	default:
		ks.ariFailures++
		wait := Backoff(ks.ariFailures, s.cfg.RetryMin, DefaultARIInterval, s.cfg.Rand())
		ks.ariErr, ks.ariNext = redact.Text(err.Error()), now.Add(wait)
		s.cfg.Logger.Warn("acme schedule: renewal information not read; the last window, or two thirds of the lifetime, is used",
			"host", tg.Host, "key", role, "failures", ks.ariFailures, "retry_in", wait, "err", ks.ariErr)
	}
}

// deployServed deploys the ring's chain of the served key when the
// server's file differs from it.
func (s *Scheduler) deployServed(ctx context.Context, tg *Target, ring *keyring.Ring, served pin.Pin) error {
	want, err := ring.Chain(served)
	if err != nil {
		return err
	}
	cur, err := readServed(tg)
	if err != nil {
		return err
	}
	if bytes.Equal(cur, want) {
		return nil
	}
	key, err := ring.Key(served)
	if err != nil {
		return err
	}
	keyPEM, err := keyring.MarshalPEM(key)
	if err != nil {
		return err
	}
	res, err := deploy.Deploy(ctx, tg.DeployTarget(s.cfg.Now), want, keyPEM, served)
	if err != nil {
		return fmt.Errorf("deploying the renewed certificate of %s: %w", served, err)
	}
	s.cfg.Logger.Info("acme schedule: renewed certificate deployed", "host", tg.Host, "pin", served.String(), "addresses", len(res.Addresses))
	return nil
}
