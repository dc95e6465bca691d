package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/console"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// benchNow is the benchmark's clock.
var benchNow = checktest.Epoch.Add(24 * time.Hour)

// Sizes of the benchmark's store.
const (
	benchHosts   = 1000   // hosts in the manifest (trust.MaxHosts)
	benchReports = 100000 // stored reports, all distinct rows, one app
	benchRounds  = 10     // monitor rounds of every address in the history
)

// BenchmarkPages renders every console page from a store holding an app
// with 1,000 hosts (two addresses each, 10 monitor rounds of history),
// two manifest versions and 100,000 reports over 30 days, and reports the
// server time per page (ns/op: the console's handler, store queries
// included, on SQLite). docs/benchmarks.md records the figures.
func BenchmarkPages(b *testing.B) {
	h, st, cookie := benchServer(b)
	a := "/console/apps/" + appID
	for _, p := range []struct{ name, path string }{
		{"apps", "/console/apps"},
		{"manifest", a},
		{"coverage", a + "/coverage"},
		{"history-diff", a + "/history?from=1&to=2"},
		{"reports", a + "/reports"},
		{"reports-by-host", a + "/reports?host=host7.example.com"},
		{"report", "/console/reports/50000"},
		{"rotation", a + "/rotation"},
		{"publish", a + "/publish"},
		{"alerts", "/console/alerts"},
		{"tokens", "/console/tokens"},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.Header.Set("Cookie", cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d\n%s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
	// What the reports page's snapshot costs when it is computed (the
	// first view of a filter, then in the background at most every 15
	// seconds): the store's Aggregate over the page's 30-day window.
	since := benchNow.Add(-29 * 24 * time.Hour).Truncate(24 * time.Hour)
	for _, q := range []struct {
		name string
		q    store.ReportQuery
	}{
		{"aggregate-uncached", store.ReportQuery{App: appID, Since: since}},
		{"aggregate-uncached-by-host", store.ReportQuery{App: appID, Host: "host7.example.com", Since: since}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				agg, err := st.Aggregate(context.Background(), q.q)
				if err != nil || agg.Total.Reports == 0 {
					b.Fatalf("%+v %v", agg.Total, err)
				}
			}
		})
	}
}

// benchServer builds the store once and returns the server and a signed-in
// session's cookie.
func benchServer(b *testing.B) (http.Handler, store.Store, string) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, store.SQLiteFile), store.WithReportLimits(store.ReportLimits{MaxRows: -1, MaxBytes: -1}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	w := checktest.NewWorld(b, "host0.example.com")
	now := benchNow
	clk := testtool.NewClock(now)
	srv, err := server.New(server.Config{Store: st, Now: clk.Now, Console: console.Mount(console.Config{Rand: &countingReader{}})})
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]policy.Policy, benchHosts)
	for i := range hosts {
		hosts[i] = policy.Policy{Pattern: fmt.Sprintf("host%d.example.com", i), Pins: []pin.Pin{w.Pin(fmt.Sprint("live", i)), w.Pin(fmt.Sprint("backup", i))}}
	}
	root, m1 := w.Documents(1, hosts)
	hosts2 := append([]policy.Policy(nil), hosts...)
	for i := 0; i < len(hosts2); i += 10 {
		hosts2[i].Pins = []pin.Pin{hosts[i].Pins[0], w.Pin(fmt.Sprint("next", i))}
	}
	_, m2 := w.Documents(2, hosts2)
	if _, err := srv.PublishRoot(ctx, appID, root); err != nil {
		b.Fatal(err)
	}
	for _, m := range [][]byte{m1, m2} {
		if _, err := srv.PublishManifest(ctx, appID, m, server.PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	// Probe history: every host at two addresses, benchRounds rounds; one
	// address in a hundred refused in the last round.
	for round := range benchRounds {
		at := now.Add(time.Duration(round-benchRounds) * 5 * time.Minute)
		var rows []store.ProbeResult
		for i, h := range hosts2 {
			for j := range 2 {
				addr := fmt.Sprintf("10.0.%d.%d:443", i/250, (i%250)*2+j)
				res := check.AddressResult{Address: addr, Verdict: check.Accepted, Reason: "verified chain holds 1 of the 2 pin(s)", Verified: true,
					Chain:       []check.Cert{{Pin: h.Pins[0], Subject: "CN=" + h.Pattern, Issuer: "CN=issuing CA", NotAfter: now.Add(60 * 24 * time.Hour)}},
					MatchedPins: []pin.Pin{h.Pins[0]}, NotAfter: now.Add(60 * 24 * time.Hour)}
				if round == benchRounds-1 && i%100 == 0 && j == 1 {
					res.Verdict, res.MatchedPins = check.RefusedPin, nil
				}
				res.VerifiedChain = res.Chain
				detail, _ := json.Marshal(res)
				rows = append(rows, store.ProbeResult{App: appID, Host: h.Pattern, Port: 443, Addr: addr, Time: at, OK: true,
					NotAfter: res.NotAfter, Covered: !res.Verdict.Refused(), Detail: detail})
			}
		}
		if err := st.AddProbeResults(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	// A rotation plan on the first host with a full adoption history
	// (server.MaxAdoptionSamples samples, drawn without markers).
	plan, err := srv.StartRotation(ctx, appID, server.StartRotation{Host: hosts2[0].Pattern, NextPin: hosts2[0].Pins[1]})
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i < server.MaxAdoptionSamples; i++ { // after the one the start stored
		s := store.AdoptionSample{PlanID: plan.ID, At: now.Add(time.Duration(i) * time.Minute), Clients: int64(i), Active: server.MaxAdoptionSamples}
		if ok, err := st.AddAdoptionSample(ctx, s, 0, server.MaxAdoptionSamples); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	if got, _ := st.AdoptionSamples(ctx, plan.ID); len(got) != server.MaxAdoptionSamples {
		b.Fatalf("%d adoption samples, want %d", len(got), server.MaxAdoptionSamples)
	}
	start := time.Now()
	benchAddReports(b, st, now)
	b.Logf("stored %d reports in %s", benchReports, time.Since(start).Round(time.Millisecond))
	_, hash, _ := store.NewToken(nil)
	if err := st.AddToken(ctx, "bench", hash, now); err != nil {
		b.Fatal(err)
	}
	return srv, st, benchSignIn(b, srv, st)
}

// benchAddReports stores benchReports distinct reports from 256 writers
// (the store's group commit batches them, up to 256 a transaction).
func benchAddReports(b *testing.B, st store.Store, now time.Time) {
	base, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	if err != nil {
		b.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(base, &tmpl); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := map[string]any{}
			for k, v := range tmpl {
				m[k] = v
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= benchReports {
					return
				}
				host := fmt.Sprintf("host%d.example.com", i%benchHosts)
				m["hostname"], m["noted-hostname"] = host, host
				m["app-platform"] = []string{"IOS", "MACOS", "TVOS"}[i%3] // TrustKit-Android sends local times: they would all be today
				// The parser takes a client time of the last 14 days; older
				// ones become the arrival time. 1,000 hosts x 14 days x 8
				// versions make every report a row of its own.
				k := i / benchHosts
				m["app-version"] = fmt.Sprintf("4.%d.0", k/14)
				m["date-time"] = now.Add(-time.Duration(k%14)*24*time.Hour - time.Hour).UTC().Format(time.RFC3339)
				raw, _ := json.Marshal(m)
				r, err := report.Parse(raw, report.Options{App: appID, Now: func() time.Time { return now }})
				if err == nil {
					_, _, err = st.AddReport(context.Background(), r, raw, now)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	agg, err := st.Aggregate(context.Background(), store.ReportQuery{App: appID})
	if err != nil || agg.Total.Reports != benchReports {
		b.Fatalf("stored %d distinct reports, want %d (%v)", agg.Total.Reports, benchReports, err)
	}
}

func benchSignIn(b *testing.B, h http.Handler, st store.Store) string {
	secret, hash, _ := store.NewToken(nil)
	if err := st.AddToken(context.Background(), "bench-user", hash, time.Time{}); err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/signin", nil))
	csrf := csrfOf(b, page{body: rec.Body.String()})
	var signin string
	for _, c := range rec.Result().Cookies() {
		if c.Name == "pinset_console_signin" {
			signin = c.Name + "=" + c.Value
		}
	}
	req := httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"csrf": {csrf}, "token": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", signin)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == console.SessionCookie {
			return c.Name + "=" + c.Value
		}
	}
	b.Fatalf("sign-in: %d %s", rec.Code, rec.Body.String())
	return ""
}
