package monitor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/report"
)

// TestHostSpike: the rotation's question is the monitor's rule (threshold
// 10 per 15 minutes here), counting only reports from the first whole
// minute after since; a pattern of the manifest is asked by name.
func TestHostSpike(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	add := func(n int) {
		for i := range n {
			rep := &report.Report{Format: "pinset", App: app, Host: host, Port: 443, ExpectedPins: []pin.Pin{e.w.Pin("live")},
				Time: e.clk.Now(), ValidationResult: 1, Enforce: true, DedupKey: fmt.Sprintf("r-%v-%d", e.clk.Now(), i)}
			if _, _, err := e.st.AddReport(ctx, rep, []byte("{}"), e.clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(10)
	switchAt := e.clk.Now().Add(30 * time.Second) // within the minute of the first reports
	e.clk.Add(2 * time.Minute)
	if s, err := e.mon.HostSpike(ctx, app, host, time.Time{}); err != nil || s == nil || s.Reports != 10 {
		t.Fatalf("without a start: %+v, %v; want the 10 reports of the window", s, err)
	}
	if s, err := e.mon.HostSpike(ctx, app, host, switchAt); err != nil || s != nil {
		t.Fatalf("reports from before the switch counted: %+v, %v", s, err)
	}
	add(9)
	if s, _ := e.mon.HostSpike(ctx, app, host, switchAt); s != nil {
		t.Fatalf("9 reports after the switch are a spike: %+v", s)
	}
	add(1)
	s, err := e.mon.HostSpike(ctx, app, host, switchAt)
	if err != nil || s == nil || s.Reports != 10 || !strings.Contains(s.Rule, "threshold 10 per 15m0s") {
		t.Fatalf("10 reports after the switch: %+v, %v", s, err)
	}
	if s, _ := e.mon.HostSpike(ctx, app, "other.example.test", time.Time{}); s != nil {
		t.Fatalf("another pattern: %+v", s)
	}
}

// TestRaisedRotationSpikeSurvivesRounds: an alert a rotation plan raises
// fires at once, is not resolved by the rounds that do not compute it,
// and resolves once a spike window passed without it being raised again.
func TestRaisedRotationSpikeSurvivesRounds(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.round(t)
	e.hook.take()
	if err := e.mon.RaiseRotationSpike(ctx, app, host, 7, "12 reports", "aborting"); err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(e.hook.take(), ""); !strings.Contains(h, `"alertname":"PinsetRotationReportSpike"`) || !strings.Contains(h, `"plan":"7"`) || !strings.Contains(h, `"status":"firing"`) {
		t.Fatalf("webhook after the raise: %s", h)
	}
	e.clk.Add(10 * time.Minute)
	r := e.round(t)
	if !strings.Contains(strings.Join(names(r), " "), monitor.AlertRotationSpike) {
		t.Fatalf("round within the window: %v", names(r))
	}
	if h := strings.Join(e.hook.take(), ""); strings.Contains(h, "resolved") {
		t.Fatalf("a round resolved the raised alert: %s", h)
	}
	e.clk.Add(6 * time.Minute)
	r = e.round(t)
	if strings.Contains(strings.Join(names(r), " "), monitor.AlertRotationSpike) {
		t.Fatalf("round after the window: %v", names(r))
	}
	if h := strings.Join(e.hook.take(), ""); !strings.Contains(h, `"status":"resolved"`) || !strings.Contains(h, "PinsetRotationReportSpike") {
		t.Fatalf("webhook after the window: %s", h)
	}
}
