package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report/trustkit"
	"pinset.dev/pinset/trust"
)

// world is one end-to-end setup: a CA the client trusts, a backend HTTPS
// server whose key is pinned (plus a backup key held back), the pin
// service simulator, and the event log of a client.
type world struct {
	t       *testing.T
	clock   *ct.Clock
	ca      *pki.CA
	inter   *pki.CA
	live    *pki.Leaf // the backend's current certificate
	backup  *pki.Leaf // a certificate for the held-back key
	backend *ct.Backend
	repo    *ct.Repo
	root1   []byte
	m1      []byte

	mu     sync.Mutex
	events []Event
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, clock: ct.NewClock(ct.T0)}
	tmpl := pki.Template{Now: w.clock.Now, Rand: pki.NewDeterministicRand("world-ca")}
	w.ca = pki.Must(pki.NewRoot(tmpl))
	w.inter = pki.Must(w.ca.NewIntermediate(tmpl))
	lt := pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("world-live")}
	w.live = pki.Must(w.inter.NewLeaf(lt))
	lt.Rand = pki.NewDeterministicRand("world-backup")
	w.backup = pki.Must(w.inter.NewLeaf(lt))
	w.backend = ct.NewBackend(t, w.live)
	w.repo = ct.NewRepo(t, "com.example.app", "main")
	w.root1 = w.repo.RootBytes(1)
	w.m1 = w.repo.Publish(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	return w
}

func (w *world) config(store Store) Config {
	return Config{
		BundledRoot:     w.root1,
		BundledManifest: w.m1,
		ServiceURL:      w.repo.URL(),
		Store:           store,
		TLS:             &tls.Config{RootCAs: w.ca.Pool()},
		Now:             w.clock.Now,
		Rand:            pki.NewDeterministicRand("jitter"),
		FetchTimeout:    2 * time.Second,
		OnEvent: func(e Event) {
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
		},
	}
}

func (w *world) newClient(store Store) *Client {
	w.t.Helper()
	return w.newClientWith(w.config(store))
}

// newClientWith is newClient with a configuration the test changed.
func (w *world) newClientWith(cfg Config) *Client {
	w.t.Helper()
	c, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

// eventsOf returns the events of a kind seen so far.
// waitManifest waits up to 5 s for c to hold manifest version v, adopted
// by what (a background refresh, a retry...).
func waitManifest(t *testing.T, c *Client, v int64, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.State().ManifestVersion != v {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not adopt manifest v%d: holding v%d", what, v, c.State().ManifestVersion)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveUnpinned makes the backend serve a leaf that chains to the trusted
// root but whose key no manifest pins (an interception by a trusted CA).
func (w *world) serveUnpinned() {
	w.backend.SetLeaf(pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("evil")})))
}

func (w *world) eventsOf(k EventKind) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Event
	for _, e := range w.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (w *world) waitEvent(k EventKind, d time.Duration) Event {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if es := w.eventsOf(k); len(es) > 0 {
			return es[len(es)-1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.t.Fatalf("no %s event within %v", k, d)
	return Event{}
}

// get fetches the backend through hc and returns the body or the error.
func get(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func mustGet(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	body, err := get(hc, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if !strings.HasPrefix(body, "hello from") {
		t.Fatalf("GET %s: body %q", url, body)
	}
}

func mustRefuse(t *testing.T, hc *http.Client, url string) *enforce.Failure {
	t.Helper()
	_, err := get(hc, url)
	var f *enforce.Failure
	if !errors.As(err, &f) || !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("GET %s: want a pin failure, got %v", url, err)
	}
	return f
}

func TestPinnedBackendAccepted(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	st := c.State()
	if st.RootVersion != 1 || st.ManifestVersion != 1 || st.Source != "bundled" || st.Stale {
		t.Fatalf("state = %+v", st)
	}
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	// the tls.Config for custom dialers enforces the same pins
	conn, err := tls.Dial("tcp", w.backend.Srv.Listener.Addr().String(), c.TLSConfig(&tls.Config{RootCAs: w.ca.Pool(), ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("TLSConfig dial: %v", err)
	}
	conn.Close()
}

// An interceptor with a certificate from a CA the client trusts, but an
// unpinned key, is refused, and the TrustKit report reaches the report
// endpoint (the service's, by default).
func TestInterceptorRefusedAndReported(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.serveUnpinned()
	hc := c.HTTPClient()
	f := mustRefuse(t, hc, w.backend.URL("/"))
	if f.Port != w.backend.Port || f.Host != "127.0.0.1" {
		t.Errorf("failure names %s:%d, want 127.0.0.1:%d", f.Host, f.Port, w.backend.Port)
	}
	// the same refusal with tls.Config (no port known)
	if _, err := tls.Dial("tcp", w.backend.Srv.Listener.Addr().String(), c.TLSConfig(&tls.Config{RootCAs: w.ca.Pool(), ServerName: "127.0.0.1"})); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Errorf("TLSConfig dial: want pin mismatch, got %v", err)
	}

	// Two reports: the transport's (with the port) and the tls.Config's
	// (port unknown, 0): they differ, so both are sent.
	rep := w.repo.WaitReport(t, 5*time.Second)
	rep2 := w.repo.WaitReport(t, 5*time.Second)
	if strings.Contains(string(rep.Body), `"port":0,`) {
		rep, rep2 = rep2, rep
	}
	if !strings.Contains(string(rep2.Body), `"port":0,`) {
		t.Errorf("no report from the tls.Config dial (port 0)")
	}
	if rep.Path != "/v1/apps/com.example.app/reports" {
		t.Errorf("report POSTed to %s", rep.Path)
	}
	var tk trustkit.Body
	if err := json.Unmarshal(rep.Body, &tk); err != nil {
		t.Fatal(err)
	}
	if tk.Hostname != "127.0.0.1" || tk.Port != w.backend.Port || !tk.EnforcePinning || tk.ValidationResult != trustkit.ResultNoMatchingPin || tk.AppBundleID != "com.example.app" || tk.AppPlatform != "GO" {
		t.Errorf("report: host %s port %d enforce %v result %d app %q platform %q", tk.Hostname, tk.Port, tk.EnforcePinning, tk.ValidationResult, tk.AppBundleID, tk.AppPlatform)
	}
	if len(tk.KnownPins) != 2 || tk.KnownPins[0] != w.live.Pin().Format(pin.HPKP) {
		t.Errorf("known-pins = %v", tk.KnownPins)
	}
	if len(tk.ValidatedCertificateChain) != 3 || len(tk.ServedCertificateChain) != 2 {
		t.Errorf("chains: %d validated, %d served", len(tk.ValidatedCertificateChain), len(tk.ServedCertificateChain))
	}
	if tk.DateTime != "2026-03-01T12:00:00Z" {
		t.Errorf("date-time = %q", tk.DateTime)
	}
	w.waitEvent(EventReportSent, 5*time.Second)
	if len(w.eventsOf(EventPinFailure)) < 1 {
		t.Error("no pin-failure event")
	}

	// The same failure again within 24 hours is not reported again; after
	// 24 hours it is.
	mustRefuse(t, hc, w.backend.URL("/"))
	c.FlushReports(context.Background())
	select {
	case r := <-w.repo.Reports:
		t.Fatalf("duplicate report sent within 24h: %s", r.Body)
	case <-time.After(100 * time.Millisecond):
	}
	w.clock.Add(ReportDedupWindow + time.Minute)
	mustRefuse(t, hc, w.backend.URL("/"))
	w.repo.WaitReport(t, 5*time.Second)
}

// A report-only host connects, and its failure is reported to the policy's
// own report URI.
func TestReportOnlyHostConnectsAndReports(t *testing.T) {
	w := newWorld(t)
	got := make(chan []byte, 4)
	rsrv := newHTTPSReportServer(t, w.ca, got)
	other := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("other")}))
	p := ct.Pol("127.0.0.1", other.Pin())
	p.ReportOnly = true
	p.ReportURI = rsrv + "/hpkp-report"
	w.m1 = w.repo.Publish(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, p)
	c := w.newClient(nil)
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	select {
	case b := <-got:
		var tk trustkit.Body
		if err := json.Unmarshal(b, &tk); err != nil {
			t.Fatal(err)
		}
		if tk.EnforcePinning || tk.NotedHostname != "127.0.0.1" {
			t.Errorf("report = %+v", tk)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("report-only failure was not reported")
	}
	e := w.waitEvent(EventPinFailure, time.Second)
	if e.Failure == nil || !e.Failure.ReportOnly {
		t.Errorf("event = %+v", e)
	}
	// One handshake, one check: the transport's dial used to chain the
	// pin check of Client.TLSConfig after its own, so a report-only
	// failure was seen (and raised) twice.
	if n := len(w.eventsOf(EventPinFailure)); n != 1 {
		t.Errorf("%d pin-failure events for one handshake, want 1", n)
	}
}

// reportLeaf is a certificate for 127.0.0.1 valid both at the test clock
// (for pinned clients) and at the real time (the report client, which
// verifies with the system clock).
func reportLeaf(ca *pki.CA) *pki.Leaf {
	return pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("reports"),
		NotBefore: ct.T0.Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}))
}

// newHTTPSReportServer is a report collector served over TLS with a
// certificate from ca: reports travel over plain CA validation.
func newHTTPSReportServer(t *testing.T, ca *pki.CA, got chan<- []byte) string {
	srv := ct.NewBackend(t, reportLeaf(ca))
	srv.Srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		w.WriteHeader(http.StatusNoContent)
	})
	return "https://" + srv.Srv.Listener.Addr().String()
}

// The server rotates to its backup key and a new manifest is published:
// the running client adopts it without restart and keeps working; the old
// manifest replayed afterwards is refused.
func TestRotationAdoptedWithoutRestartAndReplayRefused(t *testing.T) {
	w := newWorld(t)
	store := &MemStore{}
	c := w.newClient(store)
	hc := c.HTTPClient()
	mustGet(t, hc, w.backend.URL("/")) // a keep-alive connection under v1

	// Manifest v2 pins the backup key plus a new held-back key.
	next := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("next")}))
	w.clock.Add(time.Hour)
	w.repo.Publish(2, w.clock.Now(), 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), next.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("manifest version %d after refresh, want 2", v)
	}
	// The server still presents the old key, which v2 no longer pins: the
	// request is refused, so the keep-alive connection (and TLS session)
	// made under v1 was not reused.
	mustRefuse(t, hc, w.backend.URL("/"))
	// The server rotates to the backup key: the running client works.
	w.backend.SetLeaf(w.backup)
	mustGet(t, hc, w.backend.URL("/"))

	// Replay of v1: refused as a rollback, v2 stays.
	w.repo.ServeManifest(w.m1)
	err := c.Refresh(context.Background())
	if !errors.Is(err, trust.ErrRollback) {
		t.Fatalf("replayed v1: want rollback, got %v", err)
	}
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("manifest version %d after replay, want 2", v)
	}
	mustGet(t, hc, w.backend.URL("/"))
	e := w.eventsOf(EventRejected)
	if len(e) == 0 || !errors.Is(e[len(e)-1].Err, trust.ErrRollback) {
		t.Errorf("no rejected event for the replay: %v", e)
	}

	// A new run starts from the cache: v2.
	c2 := w.newClient(store)
	if st := c2.State(); st.ManifestVersion != 2 || st.Source != "cache" {
		t.Fatalf("restart: state %+v", st)
	}
	mustGet(t, c2.HTTPClient(), w.backend.URL("/"))
}

// The background loop picks a new manifest up by itself.
func TestBackgroundRefresh(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.RefreshInterval = 20 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), w.live.Pin()))
	waitManifest(t, c, 2, "background refresh")
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
}

// Root rotation: root v2 with a new pins key, then a manifest under it.
func TestRootRotationWalk(t *testing.T) {
	w := newWorld(t)
	store := &MemStore{}
	c := w.newClient(store)
	w.repo.RotateRoot(true)
	w.repo.RotateRoot(false)
	w.repo.Publish(0, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.RootVersion != 3 || st.ManifestVersion != 2 {
		t.Fatalf("state after rotation: %+v", st)
	}
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	// Root v4 rotates again; the cache holds the manifest placed between
	// roots and replays it in order.
	w.repo.RotateRoot(false)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := w.newClient(store)
	if st := c2.State(); st.RootVersion != 4 || st.ManifestVersion != 2 || st.Source != "cache" {
		t.Fatalf("restart after rotation: %+v", st)
	}
}

// Pin endpoint down, 404, HTML, garbage, endless or trickling: the client
// keeps its last valid pins and stays usable; the failure is an event.
func TestPinEndpointFailuresKeepPins(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient()
	for _, tc := range []struct {
		name string
		mode int32
		want error
	}{
		{"down", ct.ModeDown, nil},
		{"404", ct.Mode404, nil},
		{"500", ct.Mode500, ErrBadStatus},
		{"html", ct.ModeHTML, ErrBadContentType},
		{"garbage", ct.ModeGarbage, trust.ErrMalformed},
		{"endless", ct.ModeEndless, ErrTooLarge},
		{"trickle", ct.ModeTrickle, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.repo.Mode.Store(tc.mode)
			defer w.repo.Mode.Store(ct.ModeOK)
			start := time.Now()
			err := c.Refresh(context.Background())
			if err == nil {
				t.Fatal("refresh succeeded against a broken endpoint")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("refresh took %v, beyond the 2s fetch timeout", el)
			}
			if st := c.State(); st.ManifestVersion != 2 || c.Policies().Len() != 1 {
				t.Fatalf("state after %s: %+v", tc.name, st)
			}
			mustGet(t, hc, w.backend.URL("/"))
			e := w.eventsOf(EventRejected)
			if len(e) == 0 || e[len(e)-1].Source != "network" {
				t.Errorf("no rejected event")
			}
		})
	}
}

// An expired manifest keeps being enforced and is reported stale; an
// expired manifest fetched from the network is refused.
func TestExpiredManifestStaysEnforced(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.clock.Add(31 * 24 * time.Hour)
	w.repo.Mode.Store(ct.Mode500)
	c.Refresh(context.Background())
	if !c.State().Stale {
		t.Fatal("state not stale after expiry")
	}
	w.waitEvent(EventStale, time.Second)
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	evil := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("evil2")}))
	w.backend.SetLeaf(evil)
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/")) // never fails open (a new transport: no idle connection)
	w.backend.SetLeaf(w.live)

	w.repo.Mode.Store(ct.ModeOK)
	w.repo.Publish(2, ct.T0, 24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin())) // already expired
	if err := c.Refresh(context.Background()); !errors.Is(err, trust.ErrExpired) {
		t.Fatalf("expired v2: want ErrExpired, got %v", err)
	}
	if c.State().ManifestVersion != 1 {
		t.Fatal("expired manifest adopted")
	}
}

// Conditional fetches: an unchanged manifest is answered 304.
func TestIfNoneMatch(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	updates := len(w.eventsOf(EventUpdated))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(w.eventsOf(EventUpdated)); n != updates {
		t.Errorf("an unchanged manifest produced an update event")
	}
	if c.state.Load().etag == "" {
		t.Error("no ETag kept")
	}
}

// Mutual TLS: a client certificate from Config.TLS is presented on pinned
// connections.
func TestMutualTLSWithPins(t *testing.T) {
	w := newWorld(t)
	// The server checks client certificates with its own (real) clock.
	clientCA := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("client-ca")}))
	key := pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("client-key")))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "app instance 7"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(pki.NewDeterministicRand("client-sig"), tmpl, clientCA.Cert, key.Public(), clientCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	w.backend.ClientCAs.Store(clientCA.Pool())
	cfg := w.config(nil)
	cfg.TLS.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	// pins still apply to a mutually authenticated connection
	evil := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("evil-mtls")}))
	w.backend.SetLeaf(evil)
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	w.backend.SetLeaf(w.live)
	// without the certificate the server refuses
	c2 := w.newClient(nil)
	if _, err := get(c2.HTTPClient(), w.backend.URL("/")); err == nil {
		t.Fatal("server accepted a client without a certificate")
	}
}

func TestConfigErrors(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.TLS.InsecureSkipVerify = true
	if _, err := New(cfg); err == nil {
		t.Error("InsecureSkipVerify accepted")
	}
	cfg = w.config(nil)
	cfg.BundledManifest = []byte("{}")
	if _, err := New(cfg); !errors.Is(err, trust.ErrMalformed) {
		t.Errorf("bad bundled manifest: %v", err)
	}
	cfg = w.config(nil)
	cfg.AppID = "other.app"
	if _, err := New(cfg); err == nil {
		t.Error("app id mismatch accepted")
	}
	// No manifest bundled, none to fetch: refuse to run with zero pins.
	cfg = w.config(nil)
	cfg.BundledManifest = nil
	cfg.ServiceURL = ""
	if _, err := New(cfg); !errors.Is(err, errNoManifest) {
		t.Errorf("no manifest: %v", err)
	}
	// No manifest bundled but a service: fetched at start.
	cfg.ServiceURL = w.repo.URL()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.State().ManifestVersion != 1 {
		t.Errorf("bootstrap state %+v", c.State())
	}
	w.repo.Mode.Store(ct.Mode404)
	if _, err := New(cfg); !errors.Is(err, errNoManifest) {
		t.Errorf("bootstrap against 404: %v", err)
	}
}

var _ = policy.Policy{}

// A failed background refresh is retried after RetryMin (with backoff),
// long before the regular interval: the client adopts v2 once the service
// recovers.
func TestBackgroundRetryWithBackoff(t *testing.T) {
	w := newWorld(t)
	w.repo.Mode.Store(ct.Mode500)
	cfg := w.config(nil)
	cfg.RefreshInterval = time.Hour
	cfg.RetryMin = 10 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	deadline := time.Now().Add(5 * time.Second)
	for len(w.eventsOf(EventRejected)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no retry after a failed refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), w.live.Pin()))
	w.repo.Mode.Store(ct.ModeOK)
	waitManifest(t, c, 2, "the retry")
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
}

// When the pins change, the TLS session cache is emptied.
func TestSessionCacheResetOnChange(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	mustGet(t, c.HTTPClient(), w.backend.URL("/"))
	if _, ok := c.sessions.Get("127.0.0.1"); !ok {
		t.Fatal("no session cached after a connection")
	}
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), w.live.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.sessions.Get("127.0.0.1"); ok {
		t.Fatal("session cache kept across a pin change")
	}
}

// Transports the program dropped are not kept alive by the client.
func TestDroppedTransportsAreCollected(t *testing.T) {
	w := newWorld(t)
	c := w.newClient(nil)
	for range 10 {
		c.Transport()
	}
	runtime.GC()
	keep := c.Transport()
	if n := len(c.liveTransports()); n != 1 {
		t.Errorf("%d live transports, want 1", n)
	}
	runtime.KeepAlive(keep)
}

// Events are logged through Config.Logger, one structured line each.
func TestLoggerGetsEvents(t *testing.T) {
	w := newWorld(t)
	var buf syncBuffer
	cfg := w.config(nil)
	cfg.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	w.repo.Mode.Store(ct.ModeHTML)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Refresh(context.Background())
	out := buf.String()
	for _, want := range []string{`"event":"updated"`, `"event":"rejected"`, `"source":"network"`, `"level":"WARN"`, "captive portal"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// syncBuffer is testtool.SyncBuffer.
type syncBuffer = testtool.SyncBuffer

// Config.DialContext routes the transport's connections; the pins are
// checked for the host and port the request named, so a failure report
// names them rather than wherever the dialer went.
func TestDialContextRoutesAndKeepsPort(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	backend := w.backend.Srv.Listener.Addr().String()
	var dialled atomic.Int32
	cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "127.0.0.1:1" {
			return nil, fmt.Errorf("unexpected dial to %s", addr)
		}
		dialled.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, backend)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hc := c.HTTPClient()
	mustGet(t, hc, "https://127.0.0.1:1/")
	if dialled.Load() == 0 {
		t.Fatal("the transport did not use Config.DialContext")
	}
	evil := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("evil-routed")}))
	w.backend.SetLeaf(evil)
	f := mustRefuse(t, c.HTTPClient(), "https://127.0.0.1:1/")
	if f.Host != "127.0.0.1" || f.Port != 1 {
		t.Errorf("failure names %s:%d, want 127.0.0.1:1 (the address asked for)", f.Host, f.Port)
	}
}

// A ServiceURL with a password and a query token: neither appears in any
// event (Reason, Err, ReportURL), in the log lines, or in the error Refresh
// returns, whatever fails (status, captive portal, network), and a report
// sent to the URL derived from it is named without them.
func TestServiceURLCredentialsRedacted(t *testing.T) {
	w := newWorld(t)
	var buf syncBuffer
	cfg := w.config(nil)
	cfg.ServiceURL = strings.Replace(w.repo.URL(), "http://", "http://user:SECRET@", 1) + "/?key=SECRET"
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var errs []string
	for _, mode := range []int32{ct.Mode500, ct.ModeHTML, ct.ModeDown, ct.ModeGarbage} {
		w.repo.Mode.Store(mode)
		if err := c.Refresh(context.Background()); err == nil {
			t.Fatalf("mode %d: refresh succeeded", mode)
		} else {
			errs = append(errs, err.Error())
		}
	}
	w.repo.Mode.Store(ct.ModeHTML)
	if !errors.Is(c.Refresh(context.Background()), ErrBadContentType) {
		t.Error("the redacted error lost its chain")
	}
	w.repo.Mode.Store(ct.ModeOK)
	evil := pki.Must(w.inter.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("evil-redact")}))
	w.backend.SetLeaf(evil)
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	if err := c.FlushReports(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.repo.WaitReport(t, 5*time.Second)
	var all []string
	w.mu.Lock()
	for _, e := range w.events {
		all = append(all, e.String(), e.ReportURL)
		if e.Err != nil {
			all = append(all, e.Err.Error())
		}
	}
	w.mu.Unlock()
	all = append(append(all, errs...), buf.String())
	text := strings.Join(all, "\n")
	if strings.Contains(text, "SECRET") {
		t.Fatalf("SECRET in events, errors or logs:\n%s", text)
	}
	for _, want := range []string{"http://redacted@127.0.0.1:", "?redacted", "report-sent"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// A freeze made visible: while the pin service cannot be reached, the
// client says so once it has gone OverdueAfter without a successful
// refresh (here the default, 24h), long before the 30-day manifest
// expires; the time of the last success survives a restart; a successful
// refresh ends it.
func TestOverdueRefreshRaisesEvent(t *testing.T) {
	w := newWorld(t)
	store := &MemStore{}
	c := w.newClient(store)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	t0 := w.clock.Now()
	if st := c.State(); !st.LastRefresh.Equal(t0) || st.Overdue {
		t.Fatalf("after a refresh: last %v, overdue %v", st.LastRefresh, st.Overdue)
	}
	w.repo.Mode.Store(ct.ModeDown)
	w.clock.Add(23 * time.Hour)
	c.Refresh(context.Background())
	if n := len(w.eventsOf(EventOverdue)); n != 0 || c.State().Overdue {
		t.Fatalf("overdue after 23h: %d events", n)
	}
	w.clock.Add(2 * time.Hour)
	c.Refresh(context.Background())
	ev := w.eventsOf(EventOverdue)
	if len(ev) != 1 || !c.State().Overdue || !strings.Contains(ev[0].Reason, t0.Format(time.RFC3339)) {
		t.Fatalf("after 25h: overdue %v, events %v", c.State().Overdue, ev)
	}
	if c.State().Stale {
		t.Fatal("the manifest is not expired: overdue is the earlier warning")
	}

	// A restart: the last success comes from the cache.
	c.Close()
	c2 := w.newClient(store)
	if st := c2.State(); !st.LastRefresh.Equal(t0) || !st.Overdue {
		t.Fatalf("restart: last %v, overdue %v", st.LastRefresh, st.Overdue)
	}
	if n := len(w.eventsOf(EventOverdue)); n != 2 {
		t.Errorf("%d overdue events after the restart, want 2", n)
	}
	w.repo.Mode.Store(ct.ModeOK)
	if err := c2.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c2.State(); st.Overdue || !st.LastRefresh.Equal(w.clock.Now()) {
		t.Fatalf("after a success: %+v", st)
	}

	// Never refreshed: the start counts; negative disables.
	cfg := w.config(nil)
	cfg.OverdueAfter = time.Hour
	w.repo.Mode.Store(ct.ModeDown)
	c3, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	w.clock.Add(2 * time.Hour)
	if st := c3.State(); !st.Overdue || !st.LastRefresh.IsZero() {
		t.Fatalf("never refreshed: %+v", st)
	}
	cfg.OverdueAfter = -1
	c4, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	w.clock.Add(48 * time.Hour)
	if c4.State().Overdue {
		t.Fatal("OverdueAfter < 0 did not disable it")
	}
}
