package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/report"
)

// The conformance suite runs unchanged against every backend.

var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func openSQLiteForTest(t *testing.T, opts ...Option) Store {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "data", SQLiteFile), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresURLForTest returns a URL to a fresh, empty schema of the test
// database named by PINSET_TEST_POSTGRES_URL, dropped when the test ends.
// It skips the test when the variable is unset, except in CI (CI set),
// where a missing database is a failure.
func postgresURLForTest(t *testing.T) string {
	t.Helper()
	base := postgresBase(t)
	u, err := TestSchema(context.Background(), base, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropTestSchema(context.Background(), base, u) })
	return u
}

// postgresBase returns PINSET_TEST_POSTGRES_URL, skipping when it is
// unset, except in CI (CI set), where a missing database is a failure.
func postgresBase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PINSET_TEST_POSTGRES_URL")
	if base == "" {
		testtool.Missing(t, "PINSET_TEST_POSTGRES_URL is not set", `start a database with: eval "$(bash .ci/postgres.sh)"`)
	}
	return base
}

func openPostgresForTest(t *testing.T, opts ...Option) Store {
	s, err := OpenPostgres(context.Background(), postgresURLForTest(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T)   { runConformance(t, openSQLiteForTest) }
func TestPostgres(t *testing.T) { runConformance(t, openPostgresForTest) }

func runConformance(t *testing.T, open func(*testing.T, ...Option) Store) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"Publish", testPublish},
		{"PublishRace", testPublishRace},
		{"Reports", testReports},
		{"ReportsConcurrent", testReportsConcurrent},
		{"ReportStorm", testReportStorm},
		{"Tokens", testTokens},
		{"ProbeResults", testProbeResults},
		{"Log", testLog},
		{"LogRace", testLogRace},
		{"Devices", testDevices},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f(t, open(t))
		})
	}
	// Cases that open their stores with options.
	for _, c := range []struct {
		name string
		f    func(*testing.T, func(...Option) Store)
	}{
		{"ReportCertificatesOnce", testReportCertificatesOnce},
		{"ReportQuotaRows", testReportQuotaRows},
		{"ReportQuotaBytes", testReportQuotaBytes},
		{"ReportRetention", testReportRetention},
		{"ReportEventsByArrival", testReportEventsByArrival},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f(t, func(opts ...Option) Store { return open(t, opts...) })
		})
	}
}

func doc(app string, v, rv int64, body string) Document {
	return Document{App: app, Version: v, RootVersion: rv, Body: []byte(body), IssuedAt: t0, Expires: t0.Add(30 * 24 * time.Hour), CreatedAt: t0}
}

func testPublish(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.LatestRoot(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no root yet: %v", err)
	}
	if err := s.PublishManifest(ctx, doc("shop", 1, 1, "m1"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest before root: %v", err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1bis"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second root v1: %v", err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 3, 0, "r3"), 2); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale prev: %v", err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 2, 0, "r2"), 1); err != nil {
		t.Fatal(err)
	}
	r, err := s.LatestRoot(ctx, "shop")
	if err != nil || r.Version != 2 || string(r.Body) != "r2" || r.SHA256 != digest([]byte("r2")) {
		t.Fatalf("latest root %+v %v", r, err)
	}
	r, err = s.Root(ctx, "shop", 1)
	if err != nil || string(r.Body) != "r1" || !r.Expires.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("root 1 %+v %v", r, err)
	}
	if _, err := s.Root(ctx, "shop", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("root 9: %v", err)
	}
	if err := s.PublishManifest(ctx, doc("shop", 1, 2, "m1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishManifest(ctx, doc("shop", 1, 2, "m1"), 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("rollback to 1: %v", err)
	}
	m2 := doc("shop", 5, 2, "m5")
	m2.Source = "resign"
	if err := s.PublishManifest(ctx, m2, 1); err != nil {
		t.Fatal(err)
	}
	m, err := s.Manifest(ctx, "shop")
	if err != nil || m.Version != 5 || string(m.Body) != "m5" || m.RootVersion != 2 || m.Source != "resign" || !m.IssuedAt.Equal(t0) {
		t.Fatalf("current manifest %+v %v", m, err)
	}
	old, err := s.ManifestVersion(ctx, "shop", 1)
	if err != nil || string(old.Body) != "m1" || old.Source != "publish" {
		t.Fatalf("manifest 1 %+v %v", old, err)
	}
	hist, err := s.Manifests(ctx, "shop")
	if err != nil || len(hist) != 2 || hist[0].Version != 5 || hist[1].Version != 1 || hist[0].Body != nil {
		t.Fatalf("history %+v %v", hist, err)
	}
	if err := s.PublishRoot(ctx, doc("blog", 1, 0, "b1"), 0); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 2 || apps[0].ID != "blog" || apps[1].ID != "shop" || apps[1].RootVersion != 2 || apps[1].ManifestVersion != 5 {
		t.Fatalf("apps %+v %v", apps, err)
	}
	if _, err := s.Manifest(ctx, "blog"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blog manifest: %v", err)
	}
	if _, err := s.App(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown app: %v", err)
	}
}

// testPublishRace has many goroutines publish over the same version: one
// wins, the others get ErrConflict, and the winner is what is served.
// publishConcurrently publishes n manifests of shop at once, versions
// first to first+n-1, each expecting the current version to be expected,
// and returns their errors in version order.
func publishConcurrently(ctx context.Context, s Store, n int, first, expected int64) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := first + int64(i)
			errs[i] = s.PublishManifest(ctx, doc("shop", v, 1, fmt.Sprintf("m%d", v)), expected)
		}()
	}
	wg.Wait()
	return errs
}

func testPublishRace(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishManifest(ctx, doc("shop", 1, 1, "m1"), 0); err != nil {
		t.Fatal(err)
	}
	errs := publishConcurrently(ctx, s, 8, 2, 1)
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("two publishers won: %d and %d", won, i)
			}
			won = i
		case !errors.Is(err, ErrConflict):
			t.Fatalf("publisher %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no publisher won")
	}
	m, err := s.Manifest(ctx, "shop")
	if err != nil || m.Version != int64(2+won) || string(m.Body) != fmt.Sprintf("m%d", 2+won) {
		t.Fatalf("served %+v %v, winner %d", m, err, won)
	}
}

func fixtureReport(t testing.TB, name, app string) (*report.Report, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", name))
	if err != nil {
		t.Fatal(err)
	}
	// TrustKit-Android's date-time names no zone: the receive time counts.
	received := func() time.Time { return time.Date(2026, 3, 14, 9, 27, 1, 0, time.UTC) }
	r, err := report.Parse(raw, report.Options{App: app, Now: received})
	if err != nil {
		t.Fatal(err)
	}
	return r, raw
}

func testReports(t *testing.T, s Store) {
	ctx := context.Background()
	ios, iosRaw := fixtureReport(t, "trustkit-ios.json", "shop")
	android, androidRaw := fixtureReport(t, "trustkit-android.json", "shop")
	hpkp, hpkpRaw := fixtureReport(t, "hpkp.json", "shop")
	other, _ := fixtureReport(t, "pinset-go.json", "blog")
	id1, dup, err := s.AddReport(ctx, ios, iosRaw, t0)
	if err != nil || dup || id1 == 0 {
		t.Fatalf("add: %d %v %v", id1, dup, err)
	}
	id2, dup, err := s.AddReport(ctx, ios, iosRaw, t0.Add(time.Minute))
	if err != nil || !dup || id2 != id1 {
		t.Fatalf("repeat: %d %v %v", id2, dup, err)
	}
	for _, x := range []struct {
		r   *report.Report
		raw []byte
	}{{android, androidRaw}, {hpkp, hpkpRaw}, {other, []byte("{}")}} {
		if _, dup, err := s.AddReport(ctx, x.r, x.raw, t0); err != nil || dup {
			t.Fatal(dup, err)
		}
	}
	all, err := s.Reports(ctx, ReportQuery{App: "shop"})
	if err != nil || len(all) != 3 {
		t.Fatalf("shop reports: %d %v", len(all), err)
	}
	// Newest report time first: hpkp 09:28:10, android 09:27:01, ios 09:26:53.
	if all[0].Report.Format != report.FormatHPKP || all[2].Report.Format != report.FormatTrustKitIOS {
		t.Errorf("order: %s %s %s", all[0].Report.Format, all[1].Report.Format, all[2].Report.Format)
	}
	got := all[2]
	if got.Count != 2 || !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("counters %+v", got)
	}
	if got.Report.Host != "api.example.com" || got.Report.PresentedPins()[0] != ios.PresentedPins()[0] ||
		got.Report.ExpectedPins[1] != ios.ExpectedPins[1] || !got.Report.Time.Equal(ios.Time) || got.Report.AppVersion != "4.2.1" {
		t.Errorf("round trip %+v", got.Report)
	}
	raw, err := s.RawReport(ctx, got.ID)
	if err != nil || string(raw) != string(iosRaw) {
		t.Errorf("raw: %v", err)
	}
	for _, c := range []struct {
		q    ReportQuery
		want int
	}{
		{ReportQuery{App: "shop", Platform: "android"}, 1},
		{ReportQuery{App: "shop", Platform: "IOS"}, 1},
		{ReportQuery{App: "shop", Host: "api.example.com"}, 3},
		{ReportQuery{App: "shop", Host: "cdn.example.com"}, 0},
		{ReportQuery{App: "shop", Since: time.Date(2026, 3, 14, 9, 27, 0, 0, time.UTC)}, 2},
		{ReportQuery{App: "shop", Until: time.Date(2026, 3, 14, 9, 27, 1, 0, time.UTC)}, 1},
		{ReportQuery{App: "shop", Limit: 1}, 1},
		{ReportQuery{}, 4},
		{ReportQuery{App: "blog"}, 1},
	} {
		rs, err := s.Reports(ctx, c.q)
		if err != nil || len(rs) != c.want {
			t.Errorf("%+v: %d reports, want %d (%v)", c.q, len(rs), c.want, err)
		}
	}
	// Paging is by id (insertion order): ios was stored first.
	rest, _ := s.Reports(ctx, ReportQuery{App: "shop", BeforeID: id1 + 1})
	if len(rest) != 1 || rest[0].ID != id1 {
		t.Errorf("paging: %+v", rest)
	}
	agg, err := s.Aggregate(ctx, ReportQuery{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if agg.Total.Reports != 3 || agg.Total.Events != 4 {
		t.Errorf("total %+v", agg.Total)
	}
	if len(agg.ByHost) != 1 || agg.ByHost[0] != (Count{"api.example.com", 3, 4}) {
		t.Errorf("by host %+v", agg.ByHost)
	}
	if len(agg.ByDay) != 1 || agg.ByDay[0].Key != "2026-03-14" {
		t.Errorf("by day %+v", agg.ByDay)
	}
	leaf := ios.PresentedPins()[0].String()
	if len(agg.ByPin) != 2 || agg.ByPin[0].Key != leaf && agg.ByPin[1].Key != leaf || agg.ByPin[0].Events != 4 {
		t.Errorf("by pin %+v", agg.ByPin)
	}
	vers := map[string]int64{}
	for _, c := range agg.ByAppVersion {
		vers[c.Key] = c.Events
	}
	if vers["4.2.1"] != 2 || vers["4.2.0"] != 1 || vers[""] != 1 {
		t.Errorf("by app version %+v", agg.ByAppVersion)
	}
}

// testReportsConcurrent adds reports from many goroutines (group commit)
// and checks every one was stored exactly once, duplicates counted.
func testReportsConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	base, raw := fixtureReport(t, "trustkit-android.json", "shop")
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for range 2 { // each distinct report twice
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := *base
				r.AppVersion = fmt.Sprintf("v%d", i)
				r.DedupKey = fmt.Sprintf("%064d", i)
				if _, _, err := s.AddReport(ctx, &r, raw, t0); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	agg, err := s.Aggregate(ctx, ReportQuery{App: "shop"})
	if err != nil || agg.Total.Reports != n || agg.Total.Events != 2*n || len(agg.ByAppVersion) != n {
		t.Fatalf("after concurrent adds: %+v %v", agg.Total, err)
	}
	s.Close()
	if _, _, err := s.AddReport(ctx, base, raw, t0); err == nil {
		t.Error("AddReport after Close succeeded")
	}
}

func testTokens(t *testing.T, s Store) {
	ctx := context.Background()
	secret, hash, err := NewToken(nil)
	if err != nil || !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("new token %q %v", secret, err)
	}
	if err := s.AddToken(ctx, "ci", hash, t0); err != nil {
		t.Fatal(err)
	}
	_, h2, _ := NewToken(nil)
	if err := s.AddToken(ctx, "ci", h2, t0); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	s2, h3, _ := NewToken(nil)
	if err := s.AddToken(ctx, "laptop", h3, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if name, err := s.CheckToken(ctx, secret); err != nil || name != "ci" {
		t.Fatalf("check: %q %v", name, err)
	}
	if name, err := s.CheckToken(ctx, s2); err != nil || name != "laptop" {
		t.Fatalf("check 2: %q %v", name, err)
	}
	for _, bad := range []string{"", "pinset_", secret + "x", secret[:len(secret)-1], hex.EncodeToString(hash[:])} {
		if _, err := s.CheckToken(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("check %q: %v", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, "ci", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "ci", t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := s.CheckToken(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token accepted: %v", err)
	}
	ts, err := s.Tokens(ctx)
	if err != nil || len(ts) != 2 || ts[0].Name != "ci" || !ts[0].RevokedAt.Equal(t0.Add(time.Hour)) || !ts[1].RevokedAt.IsZero() {
		t.Fatalf("tokens %+v %v", ts, err)
	}
}

func testProbeResults(t *testing.T, s Store) {
	ctx := context.Background()
	rs := []ProbeResult{
		{App: "shop", Host: "api.example.com", Port: 443, Addr: "127.0.0.2:443", Time: t0, OK: true, NotAfter: t0.Add(90 * 24 * time.Hour), Covered: true, Detail: []byte(`{"pins":["x"]}`)},
		{App: "shop", Host: "api.example.com", Port: 443, Addr: "127.0.0.3:443", Time: t0.Add(time.Minute), OK: false},
		{App: "shop", Host: "cdn.example.com", Port: 443, Addr: "127.0.0.4:443", Time: t0, OK: true, Covered: true},
	}
	if err := s.AddProbeResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProbeResults(ctx, []ProbeResult{{Host: "x", Detail: []byte("{")}}); err == nil {
		t.Fatal("invalid detail JSON accepted")
	}
	got, err := s.ProbeResults(ctx, "api.example.com", t0, 0)
	if err != nil || len(got) != 2 || got[0].Addr != "127.0.0.3:443" || got[0].OK || got[1].Covered != true ||
		!got[1].NotAfter.Equal(rs[0].NotAfter) || string(got[1].Detail) != `{"pins":["x"]}` || string(got[0].Detail) != "{}" {
		t.Fatalf("probe results %+v %v", got, err)
	}
	got, _ = s.ProbeResults(ctx, "", t0.Add(time.Second), 0)
	if len(got) != 1 {
		t.Fatalf("since filter: %d", len(got))
	}
}

// TestSQLiteReopen checks that migrations are applied once and data stays.
func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "d", SQLiteFile)
	s, err := Open(ctx, "sqlite:"+path, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, "", filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := s.LatestRoot(ctx, "shop"); err != nil || string(r.Body) != "r1" {
		t.Fatalf("after reopen: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v %v", fi.Mode(), err)
	}
}

// TestPostgresTwoProcesses opens two stores on one schema, as two service
// processes would, and checks they see each other's writes and that
// concurrent migrations are harmless.
func TestPostgresTwoProcesses(t *testing.T) {
	u := postgresURLForTest(t)
	ctx := context.Background()
	var a, b Store
	var ea, eb error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a, ea = OpenPostgres(ctx, u) }()
	go func() { defer wg.Done(); b, eb = OpenPostgres(ctx, u) }()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	defer a.Close()
	defer b.Close()
	if err := a.PublishRoot(ctx, doc("shop", 1, 0, "r1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishManifest(ctx, doc("shop", 1, 1, "m1"), 0); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Manifest(ctx, "shop"); err != nil || string(m.Body) != "m1" {
		t.Fatalf("a sees %v", err)
	}
	if a.Backend() != "postgres" {
		t.Fatal(a.Backend())
	}
}
