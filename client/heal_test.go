package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
)

// switched is the rotation the self-heal is for: the client holds manifest
// v1 (live and backup keys), the backend already serves a new key, and the
// service publishes v2 naming it.
func (w *world) switched() *pki.Leaf {
	w.t.Helper()
	next := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("world-next")}))
	w.backend.SetLeaf(next)
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", next.Pin(), w.backup.Pin()))
	return next
}

// An install that comes back after the switch: its first request is made
// under v1 and refused, the client refreshes once, adopts v2 and the
// request succeeds on a second handshake. The pin failure (what was
// presented) is still an event and a report; EventHealed follows.
func TestHealAfterKeySwitch(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.switched()
	// One refresh: the next root (404) and the manifest.
	if n := mustHeal(t, w, c); n != 2 {
		t.Errorf("%d requests to the pin service, want 2 (one refresh)", n)
	}
	pf := w.eventsOf(EventPinFailure)
	if len(pf) != 1 || pf[0].Failure == nil || pf[0].Failure.ReportOnly {
		t.Fatalf("pin failure events: %v", pf)
	}
	healed := w.eventsOf(EventHealed)
	if len(healed) != 1 || healed[0].Host != "127.0.0.1" || healed[0].Port != w.backend.Port ||
		!strings.Contains(healed[0].Reason, "manifest v1 refused its key, manifest v2 accepts it") {
		t.Fatalf("healed events: %v", healed)
	}
	rep := w.repo.WaitReport(t, 5*time.Second)
	if !strings.Contains(string(rep.Body), `"port":`) {
		t.Errorf("report %s", rep.Body)
	}
	// The next request uses the new pins without another refresh.
	gets := w.repo.Gets.Load()
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	if n := w.repo.Gets.Load() - gets; n != 0 {
		t.Errorf("%d requests to the pin service after healing", n)
	}
}

// mustHeal makes a request that manifest v1 refuses and checks that it
// succeeded with v2 in force; it returns how many requests reached the
// pin service meanwhile.
func mustHeal(t *testing.T, w *world, c *Client) int64 {
	t.Helper()
	gets := w.repo.Gets.Load()
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("manifest v%d in force, want v2", v)
	}
	return w.repo.Gets.Load() - gets
}

// With NoHealOnFailure the same request is refused and the service is not
// asked: the behaviour before the self-heal.
func TestNoHealOnFailure(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.NoHealOnFailure = true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.switched()
	gets := w.repo.Gets.Load()
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	if n := w.repo.Gets.Load() - gets; n != 0 || c.State().ManifestVersion != 1 {
		t.Fatalf("%d requests to the pin service, manifest v%d", n, c.State().ManifestVersion)
	}
}

// An interceptor whose key no manifest pins: every request fails, and a
// burst of 50 (concurrent, then one after the other) within HealMin makes
// at most one refresh; once HealMin has passed, one more.
func TestHealInterceptorBurstOneRefresh(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.serveUnpinned()
	hc := c.HTTPClient()
	gets := w.repo.Gets.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := get(hc, w.backend.URL("/"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, enforce.ErrPinMismatch) {
			t.Fatalf("concurrent request: want a pin failure, got %v", err)
		}
	}
	for range 25 {
		mustRefuse(t, hc, w.backend.URL("/"))
	}
	// One refresh is two requests (the next root, the manifest).
	if n := w.repo.Gets.Load() - gets; n > 2 {
		t.Fatalf("50 refused requests made %d requests to the pin service, want at most 2 (one refresh)", n)
	}
	if n := len(w.eventsOf(EventPinFailure)); n < 50 {
		t.Errorf("%d pin failure events for 50 refused requests", n)
	}
	if n := len(w.eventsOf(EventHealed)); n != 0 {
		t.Errorf("%d healed events", n)
	}
	_, err := get(hc, w.backend.URL("/"))
	if err == nil || !strings.Contains(err.Error(), "pins not refreshed: one refresh after pin failures per 1m0s") {
		t.Errorf("a limited heal does not say so: %v", err)
	}

	w.clock.Add(DefaultHealMin)
	gets = w.repo.Gets.Load()
	_, err = get(hc, w.backend.URL("/"))
	if !errors.Is(err, enforce.ErrPinMismatch) || !strings.Contains(err.Error(), "manifest v1 is the newest the pin service has") {
		t.Fatalf("after HealMin: %v", err)
	}
	if n := w.repo.Gets.Load() - gets; n != 2 {
		t.Errorf("after HealMin: %d requests to the pin service, want 2", n)
	}
}

// A refresh that fails (service down, a document trust refuses) keeps v1:
// the request fails with the pin failure, and the pins in force are v1's,
// never none.
func TestHealRefreshFailsKeepsPins(t *testing.T) {
	for _, mode := range []int32{ct.ModeDown, ct.ModeGarbage} {
		w := newWorld(t)
		c := w.newClient(nil)
		w.switched()
		w.repo.Mode.Store(mode)
		_, err := get(c.HTTPClient(), w.backend.URL("/"))
		var f *enforce.Failure
		if !errors.As(err, &f) || !strings.Contains(err.Error(), "refreshing the pins failed, manifest v1 stays in force") {
			t.Fatalf("mode %d: %v", mode, err)
		}
		st := c.State()
		if st.ManifestVersion != 1 || len(st.Policies) != 1 || len(st.Policies[0].Pins) != 2 {
			t.Fatalf("mode %d: state %+v", mode, st)
		}
		if len(w.eventsOf(EventRejected)) == 0 || len(w.eventsOf(EventHealed)) != 0 {
			t.Errorf("mode %d: events %v", mode, w.events)
		}
	}
}

// The install back after the switch whose heal refresh is lost (the pin
// service answers the first request with a 500): the heal
// fetches again after Schedule.HealRetry's wait and the request succeeds.
// Before the retry, this request failed ("refreshing the pins failed").
func TestHealRetriesFailedFetch(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.switched()
	w.repo.FailNext.Store(1)
	// The lost request (the next root), then one whole refresh (the next
	// root, 404, and the manifest).
	if n := mustHeal(t, w, c); n != 3 {
		t.Errorf("%d requests to the pin service, want 3", n)
	}
	if n := len(w.eventsOf(EventHealed)); n != 1 {
		t.Errorf("%d healed events", n)
	}
	if n := len(w.eventsOf(EventRejected)); n != 1 {
		t.Errorf("%d rejected events, want 1 (the lost fetch)", n)
	}
}

// A pin service that fails every fetch (500): the heal makes DefaultHealAttempts
// refreshes, waiting as Schedule.HealRetry says, then the request fails
// and says so; the pins in force stay. A document trust refuses is not
// fetched again.
func TestHealRetryBounded(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	// Room for every attempt on a loaded machine (the attempts share one
	// FetchTimeout: TestHealRetryWithinFetchTimeout).
	cfg.FetchTimeout = 20 * time.Second
	c := w.newClientWith(cfg)
	w.switched()
	w.repo.Mode.Store(ct.Mode500)
	gets := w.repo.Gets.Load()
	start := time.Now()
	_, err := get(c.HTTPClient(), w.backend.URL("/"))
	took := time.Since(start)
	var f *enforce.Failure
	want := fmt.Sprintf("refreshing the pins failed, manifest v1 stays in force: %d refreshes failed", DefaultHealAttempts)
	if !errors.As(err, &f) || !strings.Contains(err.Error(), want) {
		t.Fatalf("want %q in: %v", want, err)
	}
	// Each failed refresh is one request (the root walk stops at the
	// network error).
	if n := w.repo.Gets.Load() - gets; n != DefaultHealAttempts {
		t.Errorf("%d requests to the pin service, want %d", n, DefaultHealAttempts)
	}
	var waits time.Duration
	for n := 1; ; n++ {
		d, ok := c.sched.HealRetry(n, nil)
		if !ok {
			break
		}
		waits += d
	}
	waits = time.Duration(float64(waits) * (1 - c.sched.Jitter))
	if took < waits || took > cfg.FetchTimeout {
		t.Errorf("the heal took %v; its waits are %v and its bound FetchTimeout %v", took, waits, cfg.FetchTimeout)
	}
	if v := c.State().ManifestVersion; v != 1 {
		t.Fatalf("manifest v%d in force", v)
	}

	// Not transient: one refresh each, no retry. A refused document (the
	// next root and the manifest both refused: two requests), an HTML
	// page (a captive portal), a 404 (no manifest published).
	for _, tc := range []struct {
		name string
		mode int32
		gets int64
	}{{"garbage", ct.ModeGarbage, 2}, {"html", ct.ModeHTML, 1}, {"404", ct.Mode404, 2}} {
		w.repo.Mode.Store(tc.mode)
		w.clock.Add(DefaultHealMin)
		gets = w.repo.Gets.Load()
		if _, err := get(c.HTTPClient(), w.backend.URL("/")); !errors.As(err, &f) || strings.Contains(err.Error(), "refreshes failed") {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := w.repo.Gets.Load() - gets; n != tc.gets {
			t.Errorf("%s: %d requests to the pin service, want %d (one refresh, no retry)", tc.name, n, tc.gets)
		}
	}
}

// A pin service whose certificate does not verify (an interceptor in
// front of it) is not a transient failure: one refresh, no retry.
func TestHealNoRetryUnverifiedService(t *testing.T) {
	w := newWorld(t)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(w.repo.Srv.Config.Handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()                                   // httptest's own certificate: not under w.ca
	t.Cleanup(srv.Close)
	cfg := w.config(nil)
	cfg.ServiceURL = srv.URL
	cfg.ReportURL = w.repo.URL() + "/v1/apps/com.example.app/reports" // reports elsewhere: conns counts refreshes
	c := w.newClientWith(cfg)
	w.switched()
	_, err := get(c.HTTPClient(), w.backend.URL("/"))
	var f *enforce.Failure
	if !errors.As(err, &f) || !strings.Contains(err.Error(), "refreshing the pins failed") || strings.Contains(err.Error(), "refreshes failed") {
		t.Fatalf("%v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections to the pin service, want 1 (no retry)", n)
	}
}

// The total time of a heal is one FetchTimeout, however many attempts are
// left: a pin service that trickles holds the request no longer.
func TestHealRetryWithinFetchTimeout(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.FetchTimeout = 300 * time.Millisecond
	c := w.newClientWith(cfg)
	w.switched()
	w.repo.Mode.Store(ct.ModeTrickle)
	start := time.Now()
	if _, err := get(c.HTTPClient(), w.backend.URL("/")); err == nil {
		t.Fatal("accepted")
	}
	if took := time.Since(start); took > cfg.FetchTimeout+time.Second {
		t.Errorf("the heal took %v with FetchTimeout %v", took, cfg.FetchTimeout)
	}
}

// A refresh that adopts a newer manifest which still does not pin the key
// presented: one second handshake, refused again (a second failure event
// under v2), and no third.
func TestHealRetriesOnce(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.serveUnpinned()
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), w.live.Pin()))
	_, err := get(c.HTTPClient(), w.backend.URL("/"))
	if !errors.Is(err, enforce.ErrPinMismatch) || !strings.Contains(err.Error(), "after a refresh from manifest v1 to v2") {
		t.Fatalf("%v", err)
	}
	pf := w.eventsOf(EventPinFailure)
	if len(pf) != 2 || pf[0].ManifestVersion != 1 || pf[1].ManifestVersion != 2 {
		t.Fatalf("pin failure events: %v", pf)
	}
	if n := len(w.eventsOf(EventHealed)); n != 0 {
		t.Errorf("%d healed events", n)
	}
}

// A report-only failure lets the connection through: nothing to heal.
func TestHealNotForReportOnly(t *testing.T) {
	w := newWorld(t)
	pol := ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin())
	pol.ReportOnly = true
	w.m1 = w.repo.Publish(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, pol)
	c := w.newClient(nil)
	w.switched()
	gets := w.repo.Gets.Load()
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	if n := w.repo.Gets.Load() - gets; n != 0 || c.State().ManifestVersion != 1 {
		t.Fatalf("report-only failure: %d requests to the pin service, manifest v%d", n, c.State().ManifestVersion)
	}
}

// A handshake the client cannot make again (Client.TLSConfig in a
// caller's dialer) is refused, and starts the refresh in the background:
// the caller's next attempt is made under v2 and succeeds.
func TestHealLaterForTLSConfig(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.switched()
	dial := func() error {
		conn, err := tls.Dial("tcp", w.backend.Srv.Listener.Addr().String(), c.TLSConfig(&tls.Config{RootCAs: w.ca.Pool(), ServerName: "127.0.0.1"}))
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("first dial: want a pin failure, got %v", err)
	}
	waitManifest(t, c, 2, "a refresh after the failure")
	if err := dial(); err != nil {
		t.Fatalf("dial after the refresh: %v", err)
	}
}

// After Close the client still enforces its pins, and a failure no longer
// reaches the pin service.
func TestHealNotAfterClose(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	hc := c.HTTPClient()
	w.switched()
	c.Close()
	gets := w.repo.Gets.Load()
	_, err := get(hc, w.backend.URL("/"))
	if !errors.Is(err, enforce.ErrPinMismatch) || !strings.Contains(err.Error(), "the client is closed") {
		t.Fatalf("after Close: %v", err)
	}
	if n := w.repo.Gets.Load() - gets; n != 0 {
		t.Fatalf("%d requests to the pin service after Close", n)
	}
}
