package monitor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	"pinset.dev/pinset/store/storetest"
	"pinset.dev/pinset/trust"
)

const (
	host = "api.example.test"
	app  = "com.example.check"
	day  = 24 * time.Hour
)

// clock is testtool.Clock.
type clock = testtool.Clock

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
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return setupWith(t, st)
}

func setupWith(t *testing.T, st store.Store) *env {
	e := &env{}
	e.w = checktest.NewWorld(t, host)
	live := e.w.Leaf("live", 90*day)
	e.f = checktest.NewFleet(t, host, live, live, e.w.Leaf("rotated", 90*day))
	e.st = st
	rootDoc, manifest := e.w.Documents(1, []policy.Policy{{Pattern: host, Pins: []pin.Pin{e.w.Pin("live"), e.w.Pin("backup")}}})
	ctx := context.Background()
	if err := st.PublishRoot(ctx, store.Document{App: app, Version: 1, Body: rootDoc, SHA256: sum(rootDoc), Expires: checktest.Epoch.Add(365 * day), CreatedAt: checktest.Epoch}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishManifest(ctx, store.Document{App: app, Version: 1, RootVersion: 1, Body: manifest, SHA256: sum(manifest), IssuedAt: checktest.Epoch, Expires: checktest.Epoch.Add(365 * day), Source: "publish", CreatedAt: checktest.Epoch}, 0); err != nil {
		t.Fatal(err)
	}
	e.clk = testtool.NewClock(checktest.Epoch.Add(day))
	e.slack, e.am, e.hook = newReceiver(t), newReceiver(t), newReceiver(t)
	mgr := alert.NewManager([]alert.Route{
		{Notifier: &alert.Slack{URL: e.slack.srv.URL}},
		{Notifier: &alert.Alertmanager{URL: e.am.srv.URL}},
		{Notifier: &alert.Webhook{URL: e.hook.srv.URL}},
	}, alert.Options{Now: e.clk.Now})
	e.mon = monitor.New(st, monitor.Config{
		Interval:       time.Minute,
		Check:          checktest.Options(e.w, e.f),
		Alerts:         mgr,
		SpikeThreshold: 10,
		SpikeWindow:    15 * time.Minute,
		Now:            e.clk.Now,
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
	e.clk.Add(time.Minute)
	e.round(t)
	if s := e.slack.take(); len(s) != 0 {
		t.Fatalf("duplicate notification: %q", s)
	}
	e.am.take()
	e.hook.take()

	// The node is fixed: resolved, in each shape.
	e.f.SetCert(2, e.w.Leaf("live", 90*day))
	e.clk.Add(time.Minute)
	if r := e.round(t); len(r.Alerts) != 0 {
		t.Fatalf("alerts after the fix: %v", names(r))
	}
	if s := e.slack.take(); len(s) != 1 || !strings.Contains(s[0], "[RESOLVED] PinsetCoverageLost") {
		t.Fatalf("slack resolution: %q", s)
	}
	a = e.am.take()
	if len(a) != 1 || json.Unmarshal([]byte(a[0]), &pushed) != nil || pushed[0].EndsAt.IsZero() || pushed[0].EndsAt.After(e.clk.Now()) {
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
	e.clk.Add(time.Minute)
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
	e.clk.Add(75 * day) // 14 days before the leaves expire
	ctx := context.Background()
	for i := range 12 {
		rep := &report.Report{Format: "pinset", App: app, Host: host, Port: 443, ExpectedPins: []pin.Pin{e.w.Pin("live")},
			Time: e.clk.Now().Add(-time.Minute), ValidationResult: 1, Enforce: true, DedupKey: fmt.Sprintf("spike-%d", i)}
		if _, _, err := e.st.AddReport(ctx, rep, []byte("{}"), e.clk.Now()); err != nil {
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
	if err := e.st.PublishManifest(ctx, store.Document{App: app, Version: 2, RootVersion: 1, Body: manifest, SHA256: sum(manifest), IssuedAt: checktest.Epoch, CreatedAt: checktest.Epoch, Expires: checktest.Epoch.Add(365 * day), Source: "publish"}, 1); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Hour)
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

// TestReportSpikeCountsRepeats: an attack repeating one report (one dedup
// key, the client's date-time frozen at its first report) 100 times over
// 50 minutes keeps the spike alert firing: the window counts arrivals.
// It used to count rows by their first report time, and saw 0 events in
// the last 15 minutes. Run on SQLite and on PostgreSQL.
func TestReportSpikeCountsRepeats(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := store.OpenPostgres(context.Background(), storetest.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			e := setupWith(t, st)
			ctx := context.Background()
			first := e.clk.Now()
			rep := &report.Report{Format: "pinset", App: app, Host: host, Port: 443, ExpectedPins: []pin.Pin{e.w.Pin("live")},
				Time: first, ValidationResult: 1, Enforce: true, DedupKey: "one-failure-repeated"}
			for i := range 100 {
				if i > 0 {
					e.clk.Add(30 * time.Second)
				}
				if _, _, err := e.st.AddReport(ctx, rep, []byte("{}"), e.clk.Now()); err != nil {
					t.Fatal(err)
				}
			}
			r := e.round(t)
			if n := r.ReportEvents[app][host]; n < 30 || n > 32 {
				t.Errorf("events in the last 15 minutes: %d, want 30 (up to 32: the window is widened to whole minutes)", n)
			}
			spike := 0
			for _, a := range r.Alerts {
				if a.Name() == monitor.AlertReportSpike {
					spike++
				}
			}
			if spike != 1 {
				t.Errorf("alerts %v: the spike alert is quiet", names(r))
			}
		})
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
	if err := e.st.PublishManifest(context.Background(), store.Document{App: app, Version: 2, RootVersion: 1, Body: []byte("garbage"), SHA256: sum([]byte("garbage")), Expires: checktest.Epoch.Add(365 * day), CreatedAt: checktest.Epoch}, 1); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
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

// Report hosts come from anyone: 500 made-up host names (under the
// manifest's pattern and outside it) add no series to the exposition and
// no alert beyond one per pattern; they are counted under the manifest
// pattern that covers them, or "other".
func TestReportHostLabelsBounded(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	add := func(h string, i int) {
		rep := &report.Report{Format: "pinset", App: app, Host: h, Port: 443, ExpectedPins: []pin.Pin{e.w.Pin("live")},
			Time: e.clk.Now().Add(-time.Minute), ValidationResult: 1, Enforce: true, DedupKey: fmt.Sprintf("%s-%d", h, i)}
		if _, _, err := e.st.AddReport(ctx, rep, []byte("{}"), e.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	add(host, 0)
	add("made-up-0.attacker.test", 0)
	e.round(t)
	before := strings.Count(exposition(t, e.mon), "\n")
	for i := 1; i <= 500; i++ {
		add(fmt.Sprintf("made-up-%d.attacker.test", i), i)
	}
	for i := 1; i < 30; i++ {
		add(host, i)
	}
	r := e.round(t)
	out := exposition(t, e.mon)
	if after := strings.Count(out, "\n"); after != before {
		t.Fatalf("500 made-up report hosts grew the exposition from %d to %d lines", before, after)
	}
	for _, want := range []string{
		fmt.Sprintf(`pinset_monitor_pin_failure_reports{app=%q,host=%q} 30`, app, host),
		fmt.Sprintf(`pinset_monitor_pin_failure_reports{app=%q,host="other"} 501`, app),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %s:\n%s", want, out)
		}
	}
	spikes := 0
	for _, a := range r.Alerts {
		if a.Name() == monitor.AlertReportSpike {
			spikes++
			if h := a.Labels["host"]; h != host && h != "other" {
				t.Errorf("spike alert labelled with a reported host %q", h)
			}
		}
	}
	if spikes != 2 {
		t.Errorf("%d spike alerts, want 2 (the pattern and other)", spikes)
	}
}

// A manifest that stopped enforcing a host its predecessor enforced (what
// the service publishes only with force_unpin, or what reached the store
// another way) raises PinsetHostUnpinned through the alert routes for a
// day after its publication, then resolves. Publishing the same hosts
// again raises nothing.
func TestHostUnpinnedAlert(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	publish := func(v int64, pols []policy.Policy) {
		t.Helper()
		_, m := e.w.Documents(uint64(v), pols)
		if err := e.st.PublishManifest(ctx, store.Document{App: app, Version: v, RootVersion: 1, Body: m, SHA256: sum(m), IssuedAt: checktest.Epoch,
			Expires: checktest.Epoch.Add(365 * day), Source: "publish", CreatedAt: e.clk.Now()}, v-1); err != nil {
			t.Fatal(err)
		}
	}
	pols := []policy.Policy{{Pattern: host, Pins: []pin.Pin{e.w.Pin("live"), e.w.Pin("backup")}}}
	publish(2, pols) // the same hosts: nothing to say
	e.clk.Add(time.Minute)
	for _, a := range e.round(t).Alerts {
		if a.Name() == monitor.AlertHostUnpinned {
			t.Fatalf("alert for an unchanged manifest: %v", a)
		}
	}
	ro := []policy.Policy{{Pattern: host, Pins: pols[0].Pins, ReportOnly: true}}
	publish(3, ro)
	e.clk.Add(time.Minute)
	var got []map[string]string
	for _, a := range e.round(t).Alerts {
		if a.Name() == monitor.AlertHostUnpinned {
			got = append(got, a.Labels)
		}
	}
	if len(got) != 1 || got[0]["app"] != app || got[0]["host"] != host || got[0]["version"] != "3" || got[0]["severity"] != "critical" {
		t.Fatalf("unpin alerts %v", got)
	}
	if s := strings.Join(e.slack.take(), "\n"); !strings.Contains(s, "[FIRING] PinsetHostUnpinned") || !strings.Contains(s, "stopped enforcing the pins of "+host) {
		t.Fatalf("slack: %s", s)
	}
	if out := exposition(t, e.mon); !strings.Contains(out, `pinset_monitor_alerts_firing{alertname="PinsetHostUnpinned"} 1`) {
		t.Fatalf("exposition:\n%s", out)
	}
	e.clk.Add(25 * time.Hour)
	for _, a := range e.round(t).Alerts {
		if a.Name() == monitor.AlertHostUnpinned {
			t.Fatalf("still firing a day later: %v", a)
		}
	}
	if s := strings.Join(e.slack.take(), "\n"); !strings.Contains(s, "[RESOLVED] PinsetHostUnpinned") {
		t.Fatalf("slack: %s", s)
	}
}

// A monitor given Config.Manifests (pinset serve passes the server's
// document cache) reads the current manifest there, not from the store.
func TestManifestsSourceUsed(t *testing.T) {
	e := setup(t)
	sentinel := errors.New("from the source")
	calls := 0
	m := monitor.New(e.st, monitor.Config{Now: e.clk.Now, Manifests: func(_ context.Context, a string) (*trust.Manifest, error) {
		calls++
		return nil, sentinel
	}})
	if _, err := m.RunOnce(context.Background()); !errors.Is(err, sentinel) || calls != 1 {
		t.Fatalf("RunOnce: %v after %d calls; want the source's error after one", err, calls)
	}
}

// Without alert routes the monitor still fires and resolves alerts, and
// remembers the resolved ones (for the console and the admin API): with
// the start and end of each, newest first.
func TestResolvedAlertsWithoutRoutes(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := setupWith(t, st)
	e.mon = monitor.New(st, monitor.Config{Interval: time.Minute, Check: checktest.Options(e.w, e.f), Now: e.clk.Now})
	bad := e.f.Address(2)
	start := e.clk.Now()
	e.round(t)
	if f := e.mon.Alerts(); len(f) != 1 || f[0].Labels["address"] != bad || !f[0].StartsAt.Equal(start) {
		t.Fatalf("firing: %v", f)
	}
	if r, _ := e.mon.ResolvedAlerts(); len(r) != 0 {
		t.Fatalf("resolved before the fix: %v", r)
	}
	e.f.SetCert(2, e.w.Leaf("live", 90*day))
	e.clk.Add(time.Minute)
	e.round(t)
	if f := e.mon.Alerts(); len(f) != 0 {
		t.Fatalf("firing after the fix: %v", f)
	}
	r, forgotten := e.mon.ResolvedAlerts()
	if len(r) != 1 || r[0].Name() != monitor.AlertCoverageLost || r[0].Labels["address"] != bad ||
		!r[0].StartsAt.Equal(start) || !r[0].EndsAt.Equal(e.clk.Now()) || forgotten != 0 {
		t.Fatalf("resolved: %+v (forgotten %d)", r, forgotten)
	}
	// The admin API shows them too.
	mux := http.NewServeMux()
	e.mon.Routes(mux, func(h http.Handler) http.Handler { return h })
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/admin/monitor/alerts", nil))
	var al struct {
		Alerts, Resolved  []alert.Alert
		ResolvedForgotten *int64 `json:"resolved_forgotten"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &al); err != nil || len(al.Alerts) != 0 || len(al.Resolved) != 1 ||
		al.Resolved[0].Labels["address"] != bad || al.ResolvedForgotten == nil || *al.ResolvedForgotten != 0 {
		t.Fatalf("admin alerts: %s", w.Body.Bytes())
	}
}
