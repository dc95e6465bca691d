package monitor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/store"
)

const (
	host = "api.example.test"
	app  = "com.example.check"
	day  = 24 * time.Hour
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver records webhook bodies.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		out = append(out, string(b))
	}
	r.bodies = nil
	return out
}

type env struct {
	w                    *checktest.World
	f                    *checktest.Fleet
	st                   store.Store
	clk                  *clock
	mon                  *monitor.Monitor
	slack, am, hook      *receiver
	live, rotated, other string
}

func setup(t *testing.T) *env {
	e := &env{}
	e.w = checktest.NewWorld(t, host)
	live := e.w.Leaf("live", 90*day)
	e.f = checktest.NewFleet(t, host, live, live, e.w.Leaf("rotated", 90*day))
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	rootDoc, manifest := e.w.Documents(1, []policy.Policy{{Pattern: host, Pins: []pin.Pin{e.w.Pin("live"), e.w.Pin("backup")}}})
	ctx := context.Background()
	if err := st.PublishRoot(ctx, store.Document{App: app, Version: 1, Body: rootDoc, SHA256: sum(rootDoc), Expires: checktest.Epoch.Add(365 * day), CreatedAt: checktest.Epoch}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishManifest(ctx, store.Document{App: app, Version: 1, RootVersion: 1, Body: manifest, SHA256: sum(manifest), IssuedAt: checktest.Epoch, Expires: checktest.Epoch.Add(365 * day), Source: "publish", CreatedAt: checktest.Epoch}, 0); err != nil {
		t.Fatal(err)
	}
	e.clk = &clock{t: checktest.Epoch.Add(day)}
	e.slack, e.am, e.hook = newReceiver(t), newReceiver(t), newReceiver(t)
	mgr := alert.NewManager([]alert.Route{
		{Notifier: &alert.Slack{URL: e.slack.srv.URL}},
		{Notifier: &alert.Alertmanager{URL: e.am.srv.URL}},
		{Notifier: &alert.Webhook{URL: e.hook.srv.URL}},
	}, alert.Options{Now: e.clk.now})
	e.mon = monitor.New(st, monitor.Config{
		Interval:       time.Minute,
		Check:          checktest.Options(e.w, e.f),
		Alerts:         mgr,
		SpikeThreshold: 10,
		SpikeWindow:    15 * time.Minute,
		Now:            e.clk.now,
	})
	return e
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func (e *env) round(t *testing.T) *monitor.Round {
	t.Helper()
	r, err := e.mon.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(r *monitor.Round) []string {
	var out []string
	for _, a := range r.Alerts {
		out = append(out, a.Name()+"@"+a.Labels["address"])
	}
	return out
}

func TestCoverageLostFiresAndResolvesInAllShapes(t *testing.T) {
	e := setup(t)
	bad := e.f.Address(2)
	r := e.round(t)
	if got := names(r); len(got) != 1 || got[0] != monitor.AlertCoverageLost+"@"+bad {
		t.Fatalf("alerts %v, want coverage lost on %s only", got, bad)
	}
	// Firing, in each shape.
	s := e.slack.take()
	if len(s) != 1 || !strings.Contains(s[0], `"text":"[FIRING] PinsetCoverageLost app=com.example.check api.example.test `+bad) {
		t.Fatalf("slack: %q", s)
	}
	var pushed []alert.PostableAlert
	a := e.am.take()
	if len(a) != 1 || json.Unmarshal([]byte(a[0]), &pushed) != nil || len(pushed) != 1 || pushed[0].Labels["address"] != bad || !pushed[0].EndsAt.IsZero() {
		t.Fatalf("alertmanager: %q", a)
	}
	var msg alert.WebhookMessage
	h := e.hook.take()
	if len(h) != 1 || json.Unmarshal([]byte(h[0]), &msg) != nil || msg.Status != "firing" || msg.Alerts[0].Labels["address"] != bad {
		t.Fatalf("webhook: %q", h)
	}
	fp := msg.Alerts[0].Fingerprint

	// Next round, same condition: nothing new is sent.
	e.clk.advance(time.Minute)
	e.round(t)
	if s := e.slack.take(); len(s) != 0 {
		t.Fatalf("duplicate notification: %q", s)
	}
	e.am.take()
	e.hook.take()

	// The node is fixed: resolved, in each shape.
	e.f.SetCert(2, e.w.Leaf("live", 90*day))
	e.clk.advance(time.Minute)
	if r := e.round(t); len(r.Alerts) != 0 {
		t.Fatalf("alerts after the fix: %v", names(r))
	}
	if s := e.slack.take(); len(s) != 1 || !strings.Contains(s[0], "[RESOLVED] PinsetCoverageLost") {
		t.Fatalf("slack resolution: %q", s)
	}
	a = e.am.take()
	if len(a) != 1 || json.Unmarshal([]byte(a[0]), &pushed) != nil || pushed[0].EndsAt.IsZero() || pushed[0].EndsAt.After(e.clk.now()) {
		t.Fatalf("alertmanager resolution: %q", a)
	}
	h = e.hook.take()
	if len(h) != 1 || json.Unmarshal([]byte(h[0]), &msg) != nil || msg.Status != "resolved" || msg.Alerts[0].Fingerprint != fp {
		t.Fatalf("webhook resolution: %q", h)
	}

	// History: one row per address per round.
	rows, err := e.st.ProbeResults(context.Background(), host, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 {
		t.Fatalf("%d history rows, want 9", len(rows))
	}
	if rows[0].Addr == "" || !rows[0].OK || !rows[0].Covered {
		t.Fatalf("latest row %+v", rows[0])
	}
	uncovered := 0
	for _, row := range rows {
		if !row.Covered && row.Addr == bad {
			uncovered++
		}
	}
	if uncovered != 2 {
		t.Fatalf("%d uncovered rows for %s, want 2", uncovered, bad)
	}
}

func TestFailingProbeAlertsAndKeepsMetrics(t *testing.T) {
	e := setup(t)
	e.f.SetCert(2, e.w.Leaf("live", 90*day))
	e.round(t)
	before := exposition(t, e.mon)
	down := e.f.Address(1)
	e.f.Stop(1)
	e.clk.advance(time.Minute)
	r := e.round(t)
	if got := names(r); len(got) != 1 || got[0] != monitor.AlertProbeFailing+"@"+down {
		t.Fatalf("alerts %v, want probe failing on %s", got, down)
	}
	after := exposition(t, e.mon)
	for _, want := range []string{
		fmt.Sprintf(`pinset_monitor_probe_success{address=%q,app=%q,host=%q,port="%d"} 0`, down, app, host, e.f.Port),
		fmt.Sprintf(`pinset_monitor_cert_not_after_timestamp_seconds{address=%q,app=%q,host=%q,port="%d"} %s`, down, app, host, e.f.Port, e3(checktest.Epoch.Add(90*day))),
		fmt.Sprintf(`pinset_monitor_coverage{address=%q,app=%q,host=%q,port="%d"} 1`, down, app, host, e.f.Port),
		`pinset_monitor_alerts_firing{alertname="PinsetProbeFailing"} 1`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if strings.Count(before, "pinset_monitor_probe_success{") != strings.Count(after, "pinset_monitor_probe_success{") {
		t.Fatal("a series vanished when the probe failed")
	}
	promtool(t, after)
	if s := e.slack.take(); len(s) != 1 || !strings.Contains(s[0], "[FIRING] PinsetProbeFailing") {
		t.Fatalf("slack: %q", s)
	}
}

// e3 formats a timestamp as the text exposition does.
func e3(t time.Time) string { return strconv.FormatFloat(float64(t.Unix()), 'g', -1, 64) }

func TestExpiryBackupAndReportSpike(t *testing.T) {
	e := setup(t)
	e.f.SetCert(2, e.w.Leaf("live", 90*day))
	e.clk.advance(75 * day) // 14 days before the leaves expire
	ctx := context.Background()
	for i := range 12 {
		rep := &report.Report{Format: "pinset", App: app, Host: host, Port: 443, ExpectedPins: []pin.Pin{e.w.Pin("live")},
			Time: e.clk.now().Add(-time.Minute), ValidationResult: 1, Enforce: true, DedupKey: fmt.Sprintf("spike-%d", i)}
		if _, _, err := e.st.AddReport(ctx, rep, []byte("{}"), e.clk.now()); err != nil {
			t.Fatal(err)
		}
	}
	r := e.round(t)
	got := map[string]int{}
	for _, a := range r.Alerts {
		got[a.Name()]++
	}
	if got[monitor.AlertExpiring] != 3 || got[monitor.AlertReportSpike] != 1 || len(r.Alerts) != 4 {
		t.Fatalf("alerts %v", names(r))
	}
	out := exposition(t, e.mon)
	if !strings.Contains(out, fmt.Sprintf(`pinset_monitor_pin_failure_reports{app=%q,host=%q} 12`, app, host)) ||
		!strings.Contains(out, fmt.Sprintf(`pinset_monitor_backup_pins{app=%q,host=%q,port="%d"} 1`, app, host, e.f.Port)) {
		t.Fatalf("exposition:\n%s", out)
	}
	promtool(t, out)

	// An hour later the reports leave the window: the spike resolves; a
	// manifest whose two pins are both served (leaf and issuing CA) holds
	// no key back and raises PinsetNoBackupPin.
	// (A single enforced pin cannot be signed at all: trust refuses it.)
	_, manifest := e.w.Documents(2, []policy.Policy{{Pattern: host, Pins: []pin.Pin{e.w.Pin("live"), e.w.Inter.Pin()}}})
	if err := e.st.PublishManifest(ctx, store.Document{App: app, Version: 2, RootVersion: 1, Body: manifest, SHA256: sum(manifest), IssuedAt: checktest.Epoch, Expires: checktest.Epoch.Add(365 * day), Source: "publish"}, 1); err != nil {
		t.Fatal(err)
	}
	e.clk.advance(time.Hour)
	r = e.round(t)
	got = map[string]int{}
	for _, a := range r.Alerts {
		got[a.Name()]++
	}
	if got[monitor.AlertReportSpike] != 0 || got[monitor.AlertNoBackupPin] != 1 {
		t.Fatalf("alerts %v", names(r))
	}
	if s := strings.Join(e.slack.take(), "\n"); !strings.Contains(s, "[RESOLVED] PinsetPinFailureReportSpike") || !strings.Contains(s, "[FIRING] PinsetNoBackupPin") {
		t.Fatalf("slack: %s", s)
	}
}

// exposition renders the monitor's metrics in the text format through a
// pedantic registry (which checks descriptors and label consistency).
func exposition(t *testing.T, m *monitor.Monitor) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", err, problems)
	}
	return b.String()
}

// promtool runs `promtool check metrics` on an exposition. It fails in CI
// when promtool is missing and skips locally.
func promtool(t *testing.T, text string) {
	t.Helper()
	path, ok := testtool.Optional(t, "promtool", "apt-get install -y prometheus")
	if !ok {
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition ---\n%s", err, out, text)
	}
}

// A manifest the monitor cannot read (here: garbage stored as v2) makes
// the round fail for that app, but its alerts stay firing and its series
// stay exported (probe success 0): nothing resolves or vanishes because
// the monitor could not look.
func TestUnreadableManifestKeepsAlertsAndSeries(t *testing.T) {
	e := setup(t)
	e.round(t)
	e.slack.take()
	if err := e.st.PublishManifest(context.Background(), store.Document{App: app, Version: 2, RootVersion: 1, Body: []byte("garbage"), SHA256: sum([]byte("garbage")), Expires: checktest.Epoch.Add(365 * day)}, 1); err != nil {
		t.Fatal(err)
	}
	e.clk.advance(time.Minute)
	r, err := e.mon.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "manifest v2") {
		t.Fatalf("round error %v", err)
	}
	if got := names(r); len(got) != 1 || got[0] != monitor.AlertCoverageLost+"@"+e.f.Address(2) {
		t.Fatalf("alerts %v", got)
	}
	if s := e.slack.take(); len(s) != 0 {
		t.Fatalf("notifications while the monitor could not look: %q", s)
	}
	out := exposition(t, e.mon)
	if n := strings.Count(out, "pinset_monitor_probe_success{"); n != 3 || !strings.Contains(out, fmt.Sprintf(`pinset_monitor_probe_success{address=%q,app=%q,host=%q,port="%d"} 0`, e.f.Address(0), app, host, e.f.Port)) {
		t.Fatalf("series after a failed round:\n%s", out)
	}
}

func TestAdminRoutes(t *testing.T) {
	e := setup(t)
	e.round(t)
	mux := http.NewServeMux()
	var authed int
	e.mon.Routes(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { authed++; h.ServeHTTP(w, r) })
	})
	get := func(path string) (int, []byte) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code, w.Body.Bytes()
	}
	code, body := get("/v1/admin/monitor/results?host=" + host + "&limit=2")
	var res struct{ Results []store.ProbeResult }
	if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Results) != 2 || res.Results[0].Host != host {
		t.Fatalf("results: %d %s", code, body)
	}
	code, body = get("/v1/admin/monitor/alerts")
	var al struct{ Alerts []alert.Alert }
	if code != 200 || json.Unmarshal(body, &al) != nil || len(al.Alerts) != 1 || al.Alerts[0].Labels["address"] != e.f.Address(2) {
		t.Fatalf("alerts: %d %s", code, body)
	}
	for _, bad := range []string{"/v1/admin/monitor/results?since=yesterday", "/v1/admin/monitor/results?limit=0", "/v1/admin/monitor/results?limit=5000"} {
		if code, body := get(bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	if authed != 5 {
		t.Fatalf("admin wrapper ran %d times, want 5", authed)
	}
}
