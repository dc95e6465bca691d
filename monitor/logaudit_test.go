package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/audit"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/monitor"
)

// TestTransparencyLogAlert: a log audit problem fires
// PinsetTransparencyLogProblem (per app, kind and entry), an audit that
// could not be done keeps the alert, a clean audit resolves it, and an
// app whose root names no log is skipped.
func TestTransparencyLogAlert(t *testing.T) {
	e := setup(t)
	var next func() (*audit.Report, error)
	mgr := alert.NewManager([]alert.Route{{Notifier: &alert.Slack{URL: e.slack.srv.URL}}}, alert.Options{Now: e.clk.Now})
	mon := monitor.New(e.st, monitor.Config{Interval: time.Minute, Check: checktest.Options(e.w, e.f), Alerts: mgr, Now: e.clk.Now,
		LogAudit: func(ctx context.Context, a string) (*audit.Report, error) {
			if a != app {
				t.Errorf("audit of %q", a)
			}
			return next()
		}})
	round := func() (*monitor.Round, error) {
		e.clk.Add(time.Minute)
		return mon.RunOnce(context.Background())
	}
	logAlerts := func(r *monitor.Round) []map[string]string {
		var out []map[string]string
		for _, a := range r.Alerts {
			if a.Name() == monitor.AlertLogProblem {
				out = append(out, a.Labels)
			}
		}
		return out
	}
	problem := audit.Problem{Kind: audit.ProblemUnexpectedKey, Index: 3, Message: "manifest v2 is signed by key abcd, not in the expected keys"}
	next = func() (*audit.Report, error) { return &audit.Report{Problems: []audit.Problem{problem}}, nil }
	r, err := round()
	if err != nil {
		t.Fatal(err)
	}
	if got := logAlerts(r); len(got) != 1 || got[0]["app"] != app || got[0]["kind"] != "unexpected-key" || got[0]["entry"] != "3" || got[0]["severity"] != "critical" {
		t.Fatalf("alerts %v", got)
	}
	if s := strings.Join(e.slack.take(), "\n"); !strings.Contains(s, "[FIRING] PinsetTransparencyLogProblem") || !strings.Contains(s, "transparency log of "+app+": unexpected-key") {
		t.Fatalf("slack: %s", s)
	}
	next = func() (*audit.Report, error) { return nil, errors.New("connection refused") }
	r, err = round()
	if err == nil || !strings.Contains(err.Error(), "log audit not done") || len(logAlerts(r)) != 1 {
		t.Fatalf("audit failed: %v, alerts %v", err, logAlerts(r))
	}
	next = func() (*audit.Report, error) { return &audit.Report{Problems: []audit.Problem{}}, nil }
	if r, err = round(); err != nil || len(logAlerts(r)) != 0 {
		t.Fatalf("clean audit: %v, alerts %v", err, logAlerts(r))
	}
	next = func() (*audit.Report, error) { return nil, fmt.Errorf("x: %w", audit.ErrNoLog) }
	if r, err = round(); err != nil || len(logAlerts(r)) != 0 {
		t.Fatalf("no log: %v, alerts %v", err, logAlerts(r))
	}
}
