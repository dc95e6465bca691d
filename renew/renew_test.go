package renew

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/nginxtest"
	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

const host = "api.pinset.test"

// env is a real Pebble, a real nginx on 127.0.0.1 and 127.0.0.2 that
// starts with an expired certificate for key 1 (so the schedule has to
// issue the live key's first certificate), a key ring with key 1 live and
// key 2 next, and a scheduler for the host on an injected clock.
type env struct {
	peb        *pebbletest.Pebble
	nginx      *nginxtest.Server
	ring       *keyring.Ring
	key1, key2 pin.Pin
	certFile   string
	clock      *clienttest.Clock
	sched      *Scheduler
	reg        *prometheus.Registry
	opts       check.Options
	fault      string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	peb := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	ringDir := t.TempDir()
	ring, err := keyring.Create(ringDir, host)
	if err != nil {
		t.Fatal(err)
	}
	var pins []pin.Pin
	var key1 crypto.Signer
	for _, seed := range []string{"renew key 1", "renew key 2"} {
		k := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand(seed)))
		p, err := ring.Add(k)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
		if key1 == nil {
			key1 = k
		}
	}
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	now := time.Now()
	expired := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{host}, Key: key1, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}))
	other := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{host}}))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, expired.ChainPEM(), 0o600)
	os.WriteFile(keyFile, expired.KeyPEM(), 0o600)
	n := nginxtest.Start(t, host, certFile, keyFile)
	// fault, while it exists, makes the next reload first copy another
	// key's chain and key over the server's files (then it is removed):
	// the deploy's files are not what nginx loads.
	fault, otherChain, otherKey := filepath.Join(dir, "fault"), filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key")
	os.WriteFile(otherChain, other.ChainPEM(), 0o600)
	os.WriteFile(otherKey, other.KeyPEM(), 0o600)
	script := fmt.Sprintf(`if [ -e %[1]s ]; then rm %[1]s; cp %[2]s %[4]s; cp %[3]s %[5]s; fi; exec "$@"`, fault, otherChain, otherKey, certFile, keyFile)
	reload := append([]string{"sh", "-c", script, "reload"}, n.Reload()...)

	roots := peb.IssuerRoots(t).Clone()
	roots.AddCert(ca.Cert)
	acct, _, err := certs.LoadAccountKey(filepath.Join(t.TempDir(), "account.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's certificates are valid from the moment they are issued;
	// the injected clock starts a minute ahead of the wall clock.
	c := clienttest.NewClock(time.Now().UTC().Add(time.Minute))
	sched, err := New(Config{
		Targets: []Target{{
			Host: host, KeyRing: ringDir, HTTP01Listen: "127.0.0.1:0", // Pebble does not validate here (AlwaysValid)
			Deploy: deploy.Target{Port: n.Port, CertFile: certFile, KeyFile: keyFile, Reload: reload, RootCAs: roots,
				Resolve: n.Resolve(), Settle: 5 * time.Second, Interval: 100 * time.Millisecond},
			ACME: certs.Options{DirectoryURL: peb.DirectoryURL, HTTPClient: peb.HTTPClient, AccountKey: acct,
				AgreeTerms: true, Timeout: time.Minute, Logf: t.Logf,
				// Pebble picks a profile at random for an order that names
				// none (letsencrypt/pebble wfe/wfe.go, NewOrder: "in true
				// pebble chaos fashion"); the tests move the clock by the
				// default's lifetime.
				Profile: "default"},
		}},
		Now:  c.Now,
		Rand: func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(sched.Collector())
	opts := check.Options{RootCAs: roots, Timeout: 5 * time.Second, Now: c.Now}
	return &env{peb: peb, nginx: n, ring: ring, key1: pins[0], key2: pins[1], certFile: certFile, clock: c, sched: sched, reg: reg, opts: opts, fault: fault}
}

func (e *env) status(t *testing.T, key string) Status {
	t.Helper()
	for _, st := range e.sched.Status(e.clock.Now()) {
		if st.Key == key {
			return st
		}
	}
	t.Fatalf("no status for the %s key: %+v", key, e.sched.Status(e.clock.Now()))
	return Status{}
}

func (e *env) renewals(key, result string) int {
	return int(metric(e.reg, "pinset_acme_renewals_total", map[string]string{"host": host, "key": key, "result": result}))
}

// served is the serial and pin every address of nginx serves (they must
// agree).
func (e *env) served(t *testing.T) pin.Pin {
	t.Helper()
	got := e.nginx.Served(t, e.opts)
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("nginx serves %v", got)
	}
	return got[0]
}

func (e *env) servedSerial(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(e.certFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certs.CheckStored(b, e.served(t), []string{host}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c[0].SerialNumber.Text(16)
}

// TestScheduleIssuesRenewsKeepsPin: the first tick issues the live key's
// certificate and deploys it (nginx serves key 1 on both addresses) and
// issues the next key's certificate into the ring; nothing happens again
// before the renewal time; at the renewal time (ARI, RFC 9773, at the
// drawn point of Pebble's window) the certificate is renewed, keeping the
// key: nginx serves a new serial under the same pin. A restart in between
// (a new scheduler) finds its state in the ring and the server's files.
func TestScheduleIssuesRenewsKeepsPin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.served(t); got != e.key1 {
		t.Fatalf("after the first tick nginx serves %s, want key 1 %s", got, e.key1)
	}
	if _, _, err := e.sched.cfg.Targets[0].StoredChain(e.ring, e.key2, e.clock.Now()); err != nil {
		t.Fatalf("the next key's certificate is not in the ring: %v", err)
	}
	if e.renewals(Live, "ok") != 1 || e.renewals(Next, "ok") != 1 {
		t.Fatalf("renewals live %d next %d", e.renewals(Live, "ok"), e.renewals(Next, "ok"))
	}
	live := e.status(t, Live)
	if live.Pin != e.key1 || live.Source != "ari" || live.Failing || live.Overdue || !live.RenewAt.After(e.clock.Now()) {
		t.Fatalf("live status %+v", live)
	}
	first := e.servedSerial(t)

	// A restart: a new scheduler over the same ring and files finds both
	// certificates there and asks nothing of the CA.
	again, err := New(e.sched.cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(again.Collector())
	if err := again.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if n := metric(reg, "pinset_acme_renewals_total", map[string]string{"result": "ok"}); n != 0 {
		t.Fatalf("after a restart the schedule asked the CA %v times", n)
	}
	if st := again.Status(e.clock.Now()); len(st) != 2 || !st[0].NotAfter.Equal(live.NotAfter) || st[1].Pin != e.key2 || st[1].NotAfter.IsZero() {
		t.Fatalf("status after a restart %+v", st)
	}

	// Before the renewal time: nothing is asked of the CA.
	e.clock.Set(live.RenewAt.Add(-time.Minute))
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if e.renewals(Live, "ok") != 1 || e.servedSerial(t) != first {
		t.Fatal("renewed before the renewal time")
	}

	// At the renewal time: renewed, deployed, the pin kept.
	e.clock.Set(live.RenewAt.Add(time.Second))
	start, before := time.Now(), e.renewals(Live, "ok")+e.renewals(Next, "ok")
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("renewal tick: %s (%d certificates issued, the live one deployed and verified on 2 addresses)",
		time.Since(start).Round(time.Millisecond), e.renewals(Live, "ok")+e.renewals(Next, "ok")-before)
	if e.renewals(Live, "ok") != 2 {
		t.Fatalf("live renewals %d, want 2", e.renewals(Live, "ok"))
	}
	if got, serial := e.served(t), e.servedSerial(t); got != e.key1 || serial == first {
		t.Fatalf("after the renewal nginx serves %s serial %s (was %s), want key 1 %s with a new serial", got, serial, first, e.key1)
	}
	if st := e.status(t, Live); st.Overdue || st.Failures != 0 || !st.LastSuccess.Equal(e.clock.Now()) {
		t.Fatalf("status after the renewal %+v", st)
	}
	if metric(e.reg, "pinset_acme_certificate_expiry_timestamp_seconds", map[string]string{"key": Live}) == 0 ||
		metric(e.reg, "pinset_acme_certificate_expiry_timestamp_seconds", map[string]string{"key": Next}) == 0 {
		t.Fatal("no expiry series for the live or the next key")
	}
}

// TestScheduleDeployRollsBack: a renewal whose deploy does not verify
// (the reload makes nginx load another key's files) is rolled back by
// deploy.Deploy: nginx serves the previous certificate of key 1 again, the
// failure is counted as a deploy error and the host backs off. The next
// attempt deploys the certificate already kept in the ring without asking
// the CA again.
func TestScheduleDeployRollsBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	first := e.servedSerial(t)
	live := e.status(t, Live)
	// The CA asks for renewal now (its window moved into the past), seen
	// at the next poll: the renewed certificate, issued on the wall
	// clock, is then not due again at the test's clock.
	chain, _ := e.ring.Chain(e.key1)
	e.peb.SetRenewalInfo(t, chain, `{"suggestedWindow":{"start":"2020-01-01T00:00:00Z","end":"2020-01-02T00:00:00Z"}}`)
	os.WriteFile(e.fault, nil, 0o600)
	e.clock.Set(live.ARINext.Add(time.Second))
	err := e.sched.Tick(ctx)
	if err == nil || !strings.Contains(err.Error(), "deploying the renewed certificate") || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("faulty deploy: %v", err)
	}
	if e.renewals(Live, "ok") != 2 || e.renewals(Live, "deploy_error") != 1 {
		t.Fatalf("renewals ok %d, deploy errors %d", e.renewals(Live, "ok"), e.renewals(Live, "deploy_error"))
	}
	if got, serial := e.served(t), e.servedSerial(t); got != e.key1 || serial != first {
		t.Fatalf("after the rollback nginx serves %s serial %s, want key 1 serial %s", got, serial, first)
	}
	st := e.status(t, Live)
	if st.Failures != 1 || st.NextAttempt.IsZero() {
		t.Fatalf("status after the failed deploy %+v", st)
	}
	e.clock.Set(st.NextAttempt)
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	kept, _ := e.ring.Chain(e.key1)
	if b, _ := os.ReadFile(e.certFile); string(b) != string(kept) || e.servedSerial(t) == first || e.renewals(Live, "ok") != 2 {
		t.Fatalf("the retry did not deploy the kept renewal (renewals %d)", e.renewals(Live, "ok"))
	}
}

// TestScheduleNextKeyDespiteLiveFailure: when the served key's deploy
// fails, the same tick still gets the next key's certificate into the
// ring.
func TestScheduleNextKeyDespiteLiveFailure(t *testing.T) {
	e := newEnv(t)
	os.WriteFile(e.fault, nil, 0o600)
	if err := e.sched.Tick(context.Background()); err == nil || !strings.Contains(err.Error(), "deploying") {
		t.Fatalf("first tick with a faulty reload: %v", err)
	}
	if _, _, err := e.sched.cfg.Targets[0].StoredChain(e.ring, e.key2, e.clock.Now()); err != nil || e.renewals(Next, "ok") != 1 {
		t.Fatalf("the next key's certificate was not obtained: %v", err)
	}
}

// TestScheduleFollowsServedKey: the schedule renews the key the server
// serves and never deploys another one: with the ring promoted by hand
// (key 2 live, key 1 retired) while nginx still serves key 1, as after a
// plan aborted at that point, a tick leaves nginx on key 1 and keeps
// renewing key 1.
func TestScheduleFollowsServedKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Promote(); err != nil {
		t.Fatal(err)
	}
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.served(t); got != e.key1 {
		t.Fatalf("nginx serves %s, want key 1 %s (the key it served)", got, e.key1)
	}
	if st := e.status(t, Live); st.Pin != e.key1 {
		t.Fatalf("the schedule renews %s, want key 1", st.Pin)
	}
}

// TestScheduleKeepsForeignKey: a server whose certificate is for a key
// the ring does not hold is not touched: the tick fails with a
// ForeignKeyError (counted towards PinsetACMEFailing), nothing is issued
// or deployed.
func TestScheduleKeepsForeignKey(t *testing.T) {
	e := newEnv(t)
	other, err := os.ReadFile(filepath.Join(filepath.Dir(e.fault), "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(e.certFile, other, 0o600)
	err = e.sched.Tick(context.Background())
	var fe *ForeignKeyError
	if !errors.As(err, &fe) || fe.Live != e.key1 {
		t.Fatalf("tick with a foreign key on the server: %v", err)
	}
	if b, _ := os.ReadFile(e.certFile); string(b) != string(other) || e.renewals(Live, "ok") != 0 || e.renewals(Next, "ok") != 0 {
		t.Fatal("the schedule replaced a key the ring does not hold, or asked the CA")
	}
	if st := e.status(t, Live); st.Failures != 1 || !strings.Contains(st.LastError, "does not hold") {
		t.Fatalf("status %+v", st)
	}
}

// TestScheduleARIRetryAfter: renewal information is asked for again only
// once its Retry-After has passed: a window the CA moves into the past is
// seen at the next poll, not before, and then the renewal is due at once.
func TestScheduleARIRetryAfter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	live := e.status(t, Live)
	wait := live.ARINext.Sub(e.clock.Now())
	if wait < MinARIInterval || wait > MaxARIInterval {
		t.Fatalf("next ARI poll in %s", wait)
	}
	t.Logf("Pebble's Retry-After, clamped: %s", wait)
	chain, _ := e.ring.Chain(e.key1)
	e.peb.SetRenewalInfo(t, chain, `{"suggestedWindow":{"start":"2020-01-01T00:00:00Z","end":"2020-01-02T00:00:00Z"}}`)

	e.clock.Set(live.ARINext.Add(-time.Second))
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if e.renewals(Live, "ok") != 1 {
		t.Fatal("renewal information asked for again before its Retry-After")
	}
	e.clock.Set(live.ARINext.Add(time.Second))
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if e.renewals(Live, "ok") != 2 || e.served(t) != e.key1 {
		t.Fatalf("the window moved into the past did not renew (renewals %d)", e.renewals(Live, "ok"))
	}
}

// TestScheduleFailing: with Pebble stopped, each attempt after the renewal
// time fails; the renewal is overdue from the first failure, the host
// backs off (no attempt before NextAttempt) and is failing after
// FailingAfter failures; the metrics say so.
func TestScheduleFailing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	live := e.status(t, Live)
	e.peb.Stop()
	e.clock.Set(live.RenewAt.Add(time.Second))
	if st := e.status(t, Live); st.Overdue {
		t.Fatalf("overdue before any failed attempt: %+v", st)
	}
	var last Status
	for i := 1; i <= DefaultFailingAfter; i++ {
		if err := e.sched.Tick(ctx); err == nil {
			t.Fatalf("attempt %d with Pebble stopped succeeded", i)
		}
		last = e.status(t, Live)
		if last.Failures != i || !last.Overdue || last.Failing != (i >= DefaultFailingAfter) || !strings.Contains(last.LastError, "certificate for the live key") {
			t.Fatalf("after %d failures: %+v", i, last)
		}
		// Backing off: a tick before NextAttempt does not try.
		e.clock.Set(last.NextAttempt.Add(-time.Second))
		e.sched.Tick(ctx)
		if st := e.status(t, Live); st.Failures != i {
			t.Fatalf("tried again while backing off: %+v", st)
		}
		e.clock.Set(last.NextAttempt)
	}
	if got := e.renewals(Live, "issue_error"); got != DefaultFailingAfter {
		t.Fatalf("issue errors counted %d", got)
	}
	for name, want := range map[string]float64{"pinset_acme_failing": 1, "pinset_acme_consecutive_failures": DefaultFailingAfter} {
		if got := metric(e.reg, name, map[string]string{"host": host}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metric(e.reg, "pinset_acme_renewal_overdue", map[string]string{"key": Live}); got != 1 {
		t.Errorf("pinset_acme_renewal_overdue{key=live} = %v", got)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", err, problems)
	}
	// Still serving the old certificate, under the same key.
	if got := e.served(t); got != e.key1 {
		t.Fatalf("nginx serves %s", got)
	}
}

// metric is the value of the series of name (gauge or counter) that has
// the labels given; 0 when there is none.
func metric(reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				if !found {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestBackoff: doubling from the minimum, bounded by the maximum, half of
// it jitter.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0, 30 * time.Second},
		{1, 1, time.Minute},
		{2, 0.5, 90 * time.Second},
		{3, 0, 2 * time.Minute},
		{10, 1, time.Hour},
		{1000, 0, 30 * time.Minute},
		{0, 0, 30 * time.Minute},
		{3, 7, 4 * time.Minute},
	} {
		if got := Backoff(tc.n, time.Minute, time.Hour, tc.r); got != tc.want {
			t.Errorf("Backoff(%d, r=%v) = %s, want %s", tc.n, tc.r, got, tc.want)
		}
	}
}

// TestARIRetryAfterClamped: the CA's Retry-After on renewal information
// sets the next poll, clamped to [MinARIInterval, MaxARIInterval]; none
// means DefaultARIInterval (RFC 9773 §4.3); a failed poll keeps the last
// window and is retried after RetryMin, then twice that (a real HTTPS
// server plays the CA's directory and renewalInfo resources).
func TestARIRetryAfterClamped(t *testing.T) {
	var mu sync.Mutex
	retryAfter, fail := "", false
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("/dir", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"renewalInfo": %q}`, base+"/ari")
	})
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		fmt.Fprint(w, `{"suggestedWindow":{"start":"2030-01-01T00:00:00Z","end":"2030-01-02T00:00:00Z"}}`)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	base = srv.URL
	leaf := pki.Must(pki.NewHierarchy(pki.Template{}, host)).Leaf.Cert
	s, err := New(Config{Targets: []Target{{Host: host, KeyRing: t.TempDir()}}, Rand: func() float64 { return 1 }})
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{ACME: certs.Options{DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client()}}
	now := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"120", 2 * time.Minute},
		{"1", MinARIInterval},
		{"864000", MaxARIInterval},
		{"", DefaultARIInterval},
		{now.Add(3 * time.Hour).Format(http.TimeFormat), 3 * time.Hour},
	} {
		mu.Lock()
		retryAfter = tc.header
		mu.Unlock()
		ks := &keyState{}
		s.fetchARI(context.Background(), tg, ks, leaf, Live, now)
		if got := ks.ariNext.Sub(now); got != tc.want || ks.ari == nil || ks.ariErr != "" {
			t.Errorf("Retry-After %q: next poll in %s (want %s), window %v, error %q", tc.header, got, tc.want, ks.ari, ks.ariErr)
		}
		// Not asked again before then.
		mu.Lock()
		fail = true
		mu.Unlock()
		s.fetchARI(context.Background(), tg, ks, leaf, Live, now.Add(tc.want-time.Second))
		if ks.ariErr != "" {
			t.Errorf("Retry-After %q: asked again before it passed", tc.header)
		}
		// A failed poll keeps the window and tries again after RetryMin.
		s.fetchARI(context.Background(), tg, ks, leaf, Live, now.Add(tc.want))
		if ks.ariErr == "" || ks.ari == nil || ks.ariNext != now.Add(tc.want+DefaultRetryMin) {
			t.Errorf("Retry-After %q: after a failed poll: window %v, error %q, next %s", tc.header, ks.ari, ks.ariErr, ks.ariNext)
		}
		s.fetchARI(context.Background(), tg, ks, leaf, Live, ks.ariNext)
		if ks.ariNext != now.Add(tc.want+3*DefaultRetryMin) {
			t.Errorf("Retry-After %q: after two failed polls the next is at %s, want %s", tc.header, ks.ariNext, now.Add(tc.want+3*DefaultRetryMin))
		}
		mu.Lock()
		fail = false
		mu.Unlock()
	}
}
