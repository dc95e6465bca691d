package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/console"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// clock is testtool.Clock.
type clock = testtool.Clock

// syncBuffer is testtool.SyncBuffer.
type syncBuffer = testtool.SyncBuffer

// countingReader is a deterministic random source for session ids that
// counts what it gave.
type countingReader struct {
	mu sync.Mutex
	n  byte
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		r.n++
		p[i] = r.n ^ byte(i*31)
	}
	return len(p), nil
}

const appID = "com.example.check"

// fixture is a pin service with the console, on a real loopback HTTP
// server, over a real SQLite store, with a real publish gate and monitor
// probing a real TLS fleet of three addresses for api.example.com
// (127.0.0.2-4), one of which serves a key the manifest does not pin.
type fixture struct {
	t         testing.TB
	st        store.Store
	srv       *server.Server
	ts        *httptest.Server
	clock     *clock
	world     *checktest.World
	fleet     *checktest.Fleet
	mon       *monitor.Monitor
	logs      *syncBuffer
	token     string // an admin token's secret
	tokenName string
	// refused is manifest v3, which the publish gate refuses: the third
	// address serves a key it does not pin.
	refused []byte
}

func policies(w *checktest.World, names ...string) []policy.Policy {
	var pins []pin.Pin
	for _, n := range names {
		pins = append(pins, w.Pin(n))
	}
	return []policy.Policy{
		{Pattern: "api.example.com", Pins: pins},
		{Pattern: "**.cdn.example.com", Pins: []pin.Pin{w.Pin("cdn-live"), w.Pin("cdn-backup")}},
	}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := checktest.NewWorld(t, "api.example.com")
	live := w.Leaf("live", 90*24*time.Hour)
	fleet := checktest.NewFleet(t, w.Host, live, live, live)
	f := &fixture{t: t, st: st, clock: testtool.NewClock(w.Epoch.Add(24 * time.Hour)), world: w, fleet: fleet, logs: &syncBuffer{}}
	opts := checktest.Options(w, fleet)
	opts.Now = f.clock.Now
	am := alert.NewManager(nil, alert.Options{Now: f.clock.Now})
	f.mon = monitor.New(st, monitor.Config{Check: opts, Now: f.clock.Now, Alerts: am})
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f.srv, err = server.New(server.Config{Store: st, Now: f.clock.Now, Logger: logger, PublishGate: check.ManifestGate(opts),
		ReportRate: 1000, ReportBurst: 1000,
		Console: console.Mount(console.Config{Alerts: f.mon.Alerts, Resolved: f.mon.ResolvedAlerts, Rand: &countingReader{}})})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)

	secret, hash, err := store.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.token, f.tokenName = secret, "alice"
	if err := st.AddToken(ctx, f.tokenName, hash, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, hash2, _ := store.NewToken(nil)
	if err := st.AddToken(ctx, "ci-deploy", hash2, f.clock.Now()); err != nil {
		t.Fatal(err)
	}

	// Root, manifest v1 (live + backup) and v2 (live + next): both pass
	// the gate, every address serving the live key.
	root, m1 := w.Documents(1, policies(w, "live", "backup"))
	f.publish(root, nil, false)
	f.publish(nil, m1, false)
	f.clock.Add(time.Hour)
	_, m2 := w.Documents(2, policies(w, "live", "next"))
	f.publish(nil, m2, false)
	_, f.refused = w.Documents(3, policies(w, "live", "next", "backup"))

	// 120 installs seen: 30 hold manifest v2 (which pins the next key)
	// when the rotation plan to the next key starts (by alice), 70 half
	// an hour later (the others still v1). The plan steps every ten
	// minutes, storing its adoption curve: 25%, 42%, 50%, 58%.
	f.installs(30)
	if _, err := f.srv.StartRotation(server.WithTokenName(ctx, "alice"), appID,
		server.StartRotation{Host: "api.example.com", NextPin: w.Pin("next")}); err != nil {
		t.Fatal(err)
	}

	// Monitor rounds: three with every address accepted (the first
	// address's certificate expiring soon in the first, renewed in the
	// second: an alert that fired and resolved), then the third address
	// serves a key nobody pinned.
	fleet.SetCert(0, w.Leaf("live", 10*24*time.Hour))
	for i := range 6 {
		if i == 1 {
			fleet.SetCert(0, live)
		}
		if i == 3 {
			fleet.SetCert(2, w.Leaf("rogue", 30*24*time.Hour))
		}
		f.clock.Add(5 * time.Minute)
		if _, err := f.mon.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			f.installs([]int{1: 50, 3: 60, 5: 70}[i])
			if err := f.srv.StepRotations(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.addReports(60)
	return f
}

// installs records the fetches of 120 installs now, the first next of
// them holding manifest v2, the others v1.
func (f *fixture) installs(next int) {
	f.t.Helper()
	var seen []store.InstallSighting
	for i := range 120 {
		v := int64(2)
		if i >= next {
			v = 1
		}
		seen = append(seen, store.InstallSighting{App: appID, Install: fmt.Sprintf("install-%03d", i), RootVersion: 1, ManifestVersion: v,
			SDK: "pinset-go/1", Seen: f.clock.Now()})
	}
	if err := f.st.RecordInstalls(context.Background(), seen); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) publish(root, manifest []byte, force bool) {
	f.t.Helper()
	ctx := context.Background()
	var err error
	if root != nil {
		_, err = f.srv.PublishRoot(ctx, appID, root)
	} else {
		_, err = f.srv.PublishManifest(ctx, appID, manifest, server.PublishOptions{Force: force})
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// addReports stores n TrustKit reports over the last 20 days, from two
// platforms and three app versions, through report.Parse as the service
// ingests them.
func (f *fixture) addReports(n int) {
	f.t.Helper()
	base, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.clock.Now()
	for i := range n {
		raw := reportBody(f.t, base, i, now)
		r, err := report.Parse(raw, report.Options{App: appID, Now: func() time.Time { return now }})
		if err != nil {
			f.t.Fatal(err)
		}
		if _, _, err := f.st.AddReport(context.Background(), r, raw, now); err != nil {
			f.t.Fatal(err)
		}
	}
}

var (
	hostsOf     = []string{"api.example.com", "api.example.com", "img.cdn.example.com"}
	platformsOf = []string{"IOS", "ANDROID"}
	versionsOf  = []string{"4.2.0", "4.2.1", "4.3.0"}
)

// reportBody is report i: a TrustKit body with its host, platform, app
// version, vendor id and time varied.
func reportBody(t testing.TB, base []byte, i int, now time.Time) []byte {
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	m["hostname"] = hostsOf[i%len(hostsOf)]
	m["noted-hostname"] = m["hostname"]
	m["app-platform"] = platformsOf[i%len(platformsOf)]
	m["app-version"] = versionsOf[(i/2)%len(versionsOf)]
	m["app-vendor-id"] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	// More failures in the last days: a rising curve.
	day := 19 - (i*i)%20
	m["date-time"] = now.Add(-time.Duration(day)*24*time.Hour - time.Duration(i)*time.Minute).UTC().Format(time.RFC3339)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client is a cookie-keeping HTTP client for the console, as a browser.
func (f *fixture) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
