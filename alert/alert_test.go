package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint on loopback that records every body.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	paths  []string
	fail   bool
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want POST application/json", http.StatusBadRequest)
			return
		}
		if r.fail {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		r.bodies = append(r.bodies, b)
		r.paths = append(r.paths, req.URL.Path)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) take() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, p := r.bodies, r.paths
	r.bodies, r.paths = nil, nil
	return b, p
}

func (r *receiver) setFail(f bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func coverageLost(addr string) Alert {
	return Alert{
		Labels:      map[string]string{"alertname": "PinsetCoverageLost", "app": "com.example", "host": "api.example.com", "address": addr, "severity": "critical"},
		Annotations: map[string]string{"summary": "clients refuse " + addr},
	}
}

func TestFiringRepeatResolveAllShapes(t *testing.T) {
	slack, am, hook := newReceiver(t), newReceiver(t), newReceiver(t)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewManager([]Route{
		{Notifier: &Slack{URL: slack.srv.URL + "/services/T000/B000/secret"}},
		{Notifier: &Alertmanager{URL: am.srv.URL}, RepeatInterval: time.Minute},
		{Notifier: &Webhook{URL: hook.srv.URL + "/hook", ExternalURL: "http://127.0.0.1:8080"}},
	}, Options{Now: clk.now, GeneratorURL: "http://127.0.0.1:8080/metrics"})
	ctx := context.Background()
	a := coverageLost("127.0.0.3:443")
	start := clk.t

	if err := m.Update(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	// Slack: one text line.
	bodies, _ := slack.take()
	if len(bodies) != 1 {
		t.Fatalf("slack got %d messages, want 1", len(bodies))
	}
	var sm SlackMessage
	if err := json.Unmarshal(bodies[0], &sm); err != nil {
		t.Fatal(err)
	}
	if want := "[FIRING] PinsetCoverageLost app=com.example api.example.com 127.0.0.3:443: clients refuse 127.0.0.3:443"; sm.Text != want {
		t.Fatalf("slack text %q, want %q", sm.Text, want)
	}
	// Alertmanager: a list on /api/v2/alerts without endsAt.
	bodies, paths := am.take()
	if len(bodies) != 1 || paths[0] != "/api/v2/alerts" {
		t.Fatalf("alertmanager got %d bodies on %v", len(bodies), paths)
	}
	var pa []map[string]any
	if err := json.Unmarshal(bodies[0], &pa); err != nil {
		t.Fatal(err)
	}
	if len(pa) != 1 || pa[0]["endsAt"] != nil || pa[0]["startsAt"] != start.Format(time.RFC3339) || pa[0]["generatorURL"] != "http://127.0.0.1:8080/metrics" {
		t.Fatalf("alertmanager body %s", bodies[0])
	}
	// Webhook: Alertmanager's notification shape.
	bodies, _ = hook.take()
	var wm WebhookMessage
	if err := json.Unmarshal(bodies[0], &wm); err != nil {
		t.Fatal(err)
	}
	if wm.Version != "4" || wm.Status != "firing" || len(wm.Alerts) != 1 || wm.Alerts[0].Status != "firing" ||
		wm.Alerts[0].Fingerprint != a.Fingerprint() || wm.CommonLabels["host"] != "api.example.com" || wm.GroupLabels["alertname"] != "PinsetCoverageLost" {
		t.Fatalf("webhook body %s", bodies[0])
	}

	// Still firing 30s later: deduplicated everywhere.
	clk.advance(30 * time.Second)
	if err := m.Update(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*receiver{"slack": slack, "alertmanager": am, "webhook": hook} {
		if b, _ := r.take(); len(b) != 0 {
			t.Fatalf("%s got a duplicate: %s", name, b[0])
		}
	}
	// 90s after firing: only the Alertmanager route (1m repeat) hears again, same startsAt.
	clk.advance(time.Minute)
	if err := m.Update(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	if b, _ := slack.take(); len(b) != 0 {
		t.Fatal("slack repeated before its interval")
	}
	bodies, _ = am.take()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), start.Format(time.RFC3339)) {
		t.Fatalf("alertmanager repeat: %q", bodies)
	}
	hook.take()

	// Condition gone: resolved everywhere, once.
	clk.advance(time.Minute)
	if err := m.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bodies, _ = slack.take()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), "[RESOLVED] PinsetCoverageLost") {
		t.Fatalf("slack resolution: %q", bodies)
	}
	bodies, _ = am.take()
	if err := json.Unmarshal(bodies[0], &pa); err != nil {
		t.Fatal(err)
	}
	ends, _ := time.Parse(time.RFC3339, pa[0]["endsAt"].(string))
	if !ends.Equal(clk.t) || ends.After(clk.t) {
		t.Fatalf("alertmanager resolution endsAt %v, want %v", pa[0]["endsAt"], clk.t)
	}
	bodies, _ = hook.take()
	if err := json.Unmarshal(bodies[0], &wm); err != nil {
		t.Fatal(err)
	}
	if wm.Status != "resolved" || wm.Alerts[0].Status != "resolved" || wm.Alerts[0].Fingerprint != a.Fingerprint() {
		t.Fatalf("webhook resolution %s", bodies[0])
	}
	if len(m.Firing()) != 0 {
		t.Fatal("alert still firing after resolution")
	}
	clk.advance(time.Minute)
	if err := m.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := slack.take(); len(b) != 0 {
		t.Fatal("resolution sent twice")
	}
}

func TestFailedDeliveryIsRetried(t *testing.T) {
	r := newReceiver(t)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewManager([]Route{{Notifier: &Webhook{URL: r.srv.URL}}}, Options{Now: clk.now})
	ctx := context.Background()
	a := coverageLost("127.0.0.2:443")
	r.setFail(true)
	err := m.Update(ctx, []Alert{a})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("want a 503 delivery error, got %v", err)
	}
	if strings.Contains(err.Error(), r.srv.URL+"/") && strings.Contains(err.Error(), "secret") {
		t.Fatal("error leaks the webhook path")
	}
	r.setFail(false)
	clk.advance(time.Minute)
	if err := m.Update(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	bodies, _ := r.take()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), `"status":"firing"`) {
		t.Fatalf("retry: %q", bodies)
	}
	// Resolution fails, then is delivered at the next evaluation.
	r.setFail(true)
	clk.advance(time.Minute)
	if err := m.Update(ctx, nil); err == nil {
		t.Fatal("want a delivery error")
	}
	r.setFail(false)
	clk.advance(time.Minute)
	if err := m.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bodies, _ = r.take()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), `"status":"resolved"`) {
		t.Fatalf("resolution retry: %q", bodies)
	}
}

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	// Label order must not matter; the value is 16 hex digits as in
	// Alertmanager's notifications.
	a := Alert{Labels: map[string]string{"alertname": "Test", "host": "a"}}
	b := Alert{Labels: map[string]string{"host": "a", "alertname": "Test"}}
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 16 {
		t.Fatalf("fingerprint %q vs %q", a.Fingerprint(), b.Fingerprint())
	}
	c := Alert{Labels: map[string]string{"alertname": "Test", "host": "b"}}
	if a.Fingerprint() == c.Fingerprint() {
		t.Fatal("different labels, same fingerprint")
	}
}

func TestAlertWithoutNameRefused(t *testing.T) {
	m := NewManager(nil, Options{})
	if err := m.Update(context.Background(), []Alert{{Labels: map[string]string{"host": "x"}}}); err == nil {
		t.Fatal("want an error for an alert without alertname")
	}
}

func TestAlertmanagerFiringTTL(t *testing.T) {
	r := newReceiver(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	am := &Alertmanager{URL: r.srv.URL, FiringTTL: 20 * time.Minute}
	a := coverageLost("127.0.0.2:443")
	a.StartsAt = now
	if err := am.Notify(context.Background(), []Alert{a}, now); err != nil {
		t.Fatal(err)
	}
	bodies, _ := r.take()
	var pa []PostableAlert
	if err := json.Unmarshal(bodies[0], &pa); err != nil {
		t.Fatal(err)
	}
	if !pa[0].EndsAt.Equal(now.Add(20 * time.Minute)) {
		t.Fatalf("endsAt %v, want now+20m", pa[0].EndsAt)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenPayloads pins the exact bytes of each shape (docs/alerts.md
// quotes them): a firing and a resolved alert in one batch.
func TestGoldenPayloads(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Minute)
	firing := coverageLost("127.0.0.4:443")
	firing.StartsAt, firing.GeneratorURL = start, "http://127.0.0.1:8080/metrics"
	resolved := Alert{
		Labels:      map[string]string{"alertname": "PinsetProbeFailing", "app": "com.example", "host": "api.example.com", "address": "127.0.0.3:443", "severity": "critical"},
		Annotations: map[string]string{"summary": "no TLS handshake with api.example.com at 127.0.0.3:443"},
		StartsAt:    start, EndsAt: now, GeneratorURL: "http://127.0.0.1:8080/metrics",
	}
	batch := []Alert{firing, resolved}
	for _, name := range []string{"slack.json", "alertmanager.json", "webhook.json"} {
		r := newReceiver(t)
		var n Notifier
		switch name {
		case "slack.json":
			n = &Slack{URL: r.srv.URL}
		case "alertmanager.json":
			n = &Alertmanager{URL: r.srv.URL}
		case "webhook.json":
			n = &Webhook{URL: r.srv.URL, ExternalURL: "http://127.0.0.1:8080"}
		}
		if err := n.Notify(context.Background(), batch, now); err != nil {
			t.Fatal(err)
		}
		bodies, _ := r.take()
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, bodies[0], "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./alert -run Golden -update)", err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s differs from the golden file:\n%s", name, pretty.String())
		}
	}
}

// The Manager keeps its own copy of an alert's maps: a caller reusing its
// maps, or changing what Firing returned, changes nothing inside.
func TestManagerCopiesAlertMaps(t *testing.T) {
	m := NewManager(nil, Options{})
	labels := map[string]string{"alertname": "PinsetTest", "host": "a"}
	if err := m.Update(context.Background(), []Alert{{Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	labels["host"] = "b"
	got := m.Firing()
	if len(got) != 1 || got[0].Labels["host"] != "a" || got[0].Annotations != nil {
		t.Fatalf("firing %+v", got)
	}
	got[0].Labels["host"] = "c"
	if again := m.Firing(); again[0].Labels["host"] != "a" {
		t.Fatalf("Firing returned the Manager's own map: %+v", again)
	}
}

// A resolved alert is remembered, newest first, with its start and end,
// whether a route delivered its resolution or not (here there is no route
// at all); the history is bounded and says how many it forgot.
func TestResolvedHistory(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewManager(nil, Options{Now: clk.now, History: 2})
	ctx := context.Background()
	a, b, c := coverageLost("127.0.0.2:443"), coverageLost("127.0.0.3:443"), coverageLost("127.0.0.4:443")
	start := clk.t
	if err := m.Update(ctx, []Alert{a, b}); err != nil {
		t.Fatal(err)
	}
	if got, n := m.Resolved(); len(got) != 0 || n != 0 {
		t.Fatalf("resolved before anything resolved: %v, %d", got, n)
	}
	clk.advance(time.Minute)
	if err := m.Update(ctx, []Alert{b}); err != nil { // a resolves
		t.Fatal(err)
	}
	got, n := m.Resolved()
	if len(got) != 1 || got[0].Labels["address"] != "127.0.0.2:443" || !got[0].StartsAt.Equal(start) ||
		!got[0].EndsAt.Equal(clk.t) || got[0].Status(clk.t) != "resolved" || n != 0 {
		t.Fatalf("after a resolved: %+v, forgotten %d", got, n)
	}
	if f := m.Firing(); len(f) != 1 || f[0].Labels["address"] != "127.0.0.3:443" {
		t.Fatalf("firing: %v", f)
	}
	// The caller's maps are not the history's.
	got[0].Labels["address"] = "changed"
	if again, _ := m.Resolved(); again[0].Labels["address"] != "127.0.0.2:443" {
		t.Fatal("Resolved hands out the history's own maps")
	}
	clk.advance(time.Minute)
	if err := m.Update(ctx, []Alert{c}); err != nil { // b resolves, c fires
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	if err := m.Update(ctx, nil); err != nil { // c resolves: a is forgotten
		t.Fatal(err)
	}
	got, n = m.Resolved()
	if len(got) != 2 || got[0].Labels["address"] != "127.0.0.4:443" || got[1].Labels["address"] != "127.0.0.3:443" || n != 1 {
		t.Fatalf("bounded history: %v, forgotten %d", got, n)
	}
	// An alert that fires again after resolving is remembered each time.
	clk.advance(time.Minute)
	m.Update(ctx, []Alert{c})
	clk.advance(time.Minute)
	m.Update(ctx, nil)
	if got, n = m.Resolved(); len(got) != 2 || got[0].Labels["address"] != "127.0.0.4:443" || !got[0].EndsAt.Equal(clk.t) || n != 2 {
		t.Fatalf("fired again and resolved: %v, forgotten %d", got, n)
	}
	none := NewManager(nil, Options{Now: clk.now, History: -1})
	none.Update(ctx, []Alert{a})
	none.Update(ctx, nil)
	if got, n := none.Resolved(); len(got) != 0 || n != 1 {
		t.Fatalf("History -1 remembers: %v, %d", got, n)
	}
}
