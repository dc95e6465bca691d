package monitor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/trust"
)

// The report-spike rule, in one place: the monitor's
// PinsetPinFailureReportSpike (rules) and a rotation plan's check after
// its switch (HostSpike, called by package server) count reports the same
// way (reportCounts) and judge them with the same threshold (spiking).

// spiking is the rule: n pin-failure report events for one host within
// the window are a spike.
func (m *Monitor) spiking(n int64) bool {
	return m.cfg.SpikeThreshold > 0 && n >= int64(m.cfg.SpikeThreshold)
}

// reportCounts counts app's pin-failure reports that arrived in [since,
// until] per manifest pattern of man (reportHostLabel). Reports are
// counted by arrival (per minute, in the store): a stored row's report
// time is its first, client-supplied time, and its repeats only raise its
// count.
func (m *Monitor) reportCounts(ctx context.Context, app string, man *trust.Manifest, since, until time.Time) (map[string]int64, error) {
	byHost, err := m.st.ReportEvents(ctx, app, since, until.Add(time.Second))
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	set, _ := policy.NewSet(man.Hosts) // verified by the service; nil matches nothing
	for host, n := range byHost {
		counts[reportHostLabel(set, host)] += n
	}
	return counts, nil
}

// HostSpike says whether the pin-failure reports for app's host pattern
// (as written in the current manifest) are a spike now, counting only
// those that arrived from since on: the spike window, shortened to start
// at since. The store counts arrivals per minute, so since is rounded up
// to the next whole minute: reports of the minute in which since falls
// are not counted (they may have come before it). It returns nil when the
// reports are no spike, and when the rule is disabled (a negative
// threshold).
func (m *Monitor) HostSpike(ctx context.Context, app, pattern string, since time.Time) (*rotate.ReportSpike, error) {
	if m.cfg.SpikeThreshold <= 0 {
		return nil, nil
	}
	now := m.cfg.Now()
	from := now.Add(-m.cfg.SpikeWindow)
	if s := since.Truncate(time.Minute); s.Before(since) {
		since = s.Add(time.Minute)
	}
	if since.After(from) {
		from = since
	}
	if !from.Before(now) {
		return nil, nil
	}
	man, err := m.manifests(ctx, app)
	if err != nil {
		return nil, err
	}
	counts, err := m.reportCounts(ctx, app, man, from, now)
	if err != nil {
		return nil, fmt.Errorf("monitor: %s: counting reports: %w", app, err)
	}
	n := counts[pattern]
	if !m.spiking(n) {
		return nil, nil
	}
	return &rotate.ReportSpike{Reports: n, Rule: fmt.Sprintf("threshold %d per %s, counted from %s",
		m.cfg.SpikeThreshold, m.cfg.SpikeWindow, from.UTC().Format(time.RFC3339))}, nil
}

// raisedAlert is an alert raised between rounds, held until it expires.
type raisedAlert struct {
	alert alert.Alert
	until time.Time
}

// liveRaised returns the raised alerts that have not expired at now and
// forgets the others. m.mu must be held.
func (m *Monitor) liveRaised(now time.Time) []alert.Alert {
	var out []alert.Alert
	for _, fp := range slices.Sorted(maps.Keys(m.raised)) {
		r := m.raised[fp]
		if !now.Before(r.until) {
			delete(m.raised, fp)
			continue
		}
		out = append(out, r.alert)
	}
	return out
}

// RaiseRotationSpike fires PinsetRotationReportSpike for a rotation plan
// now (not at the next round) and keeps it firing for one spike window;
// raised again while the spike lasts, it stays one alert (its labels are
// app, host and plan). summary and description are the plan's words
// (rotate.Decision.Alert).
func (m *Monitor) RaiseRotationSpike(ctx context.Context, app, host string, plan int64, summary, description string) error {
	a := mk(AlertRotationSpike, "critical", map[string]string{"app": app, "host": host, "plan": strconv.FormatInt(plan, 10)}, "", summary, description)
	m.updMu.Lock()
	defer m.updMu.Unlock()
	now := m.cfg.Now()
	m.mu.Lock()
	m.raised[a.Fingerprint()] = raisedAlert{alert: a, until: now.Add(m.cfg.SpikeWindow)}
	current := append(slices.Clone(m.lastAlerts), m.liveRaised(now)...)
	m.mu.Unlock()
	m.cfg.Logger.Warn("monitor: rotation report spike", "app", app, "host", host, "plan", plan, "summary", summary)
	if err := m.cfg.Alerts.Update(ctx, current); err != nil {
		m.metrics.notifyFailed()
		return err
	}
	return nil
}
