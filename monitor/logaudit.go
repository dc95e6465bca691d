package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/audit"
)

// AlertLogProblem fires while an audit of an app's transparency log finds
// a problem (audit.Problem: fork, rollback, mismatch, unexpected key...).
const AlertLogProblem = "PinsetTransparencyLogProblem"

// LogAuditFunc audits one app's transparency log (audit.Run with the
// app's settings). An error wrapping audit.ErrNoLog means the app's root
// names no log: the app is skipped.
type LogAuditFunc func(ctx context.Context, app string) (*audit.Report, error)

// auditLogs runs cfg.LogAudit for each app; errors are returned (the
// round goes on) and an app that could not be audited keeps its alerts.
func (m *Monitor) auditLogs(ctx context.Context, apps []string, r *Round) (carried []string, errs []error) {
	if m.cfg.LogAudit == nil {
		return nil, nil
	}
	r.LogProblems = map[string][]audit.Problem{}
	for _, app := range apps {
		rep, err := m.cfg.LogAudit(ctx, app)
		switch {
		case errors.Is(err, audit.ErrNoLog):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("monitor: %s: log audit not done: %w", app, err))
			carried = append(carried, app)
			continue
		}
		r.LogProblems[app] = rep.Problems
		for _, p := range rep.Problems {
			m.cfg.Logger.Warn("monitor: transparency log problem", "app", app, "kind", p.Kind, "index", p.Index, "problem", p.Message)
		}
	}
	return carried, errs
}

// logRules derives PinsetTransparencyLogProblem: one alert per app and
// problem kind (and entry, when the problem is about one).
func logRules(r *Round) []alert.Alert {
	var out []alert.Alert
	for _, app := range slices.Sorted(maps.Keys(r.LogProblems)) {
		for _, p := range r.LogProblems[app] {
			labels := map[string]string{"app": app, "kind": p.Kind}
			if p.Index >= 0 {
				labels["entry"] = strconv.FormatInt(p.Index, 10)
			}
			out = append(out, mk(AlertLogProblem, "critical", labels, "",
				fmt.Sprintf("transparency log of %s: %s", app, p.Kind), p.Message))
		}
	}
	return out
}
