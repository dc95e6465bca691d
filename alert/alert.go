// Package alert turns conditions into notifications that fire once, repeat
// on a schedule and resolve when the condition goes away.
//
// An [Alert] is a set of labels (its identity: the same labels are the same
// alert) with annotations for people, in the data model Prometheus and
// Alertmanager use, so the notifications land in tools operators already
// run. A [Manager] is given, at every evaluation, the complete list of
// alerts whose condition holds now:
//
//   - an alert not seen before fires: every route is notified with it;
//   - an alert still present is not sent again until its route's
//     RepeatInterval has passed (deduplication);
//   - an alert that is no longer present resolves: every route is notified
//     once more, with EndsAt set to the time of resolution;
//   - a route whose delivery fails keeps what it owes and retries it at the
//     next evaluation, so a webhook outage delays alerts but loses none.
//
// The Manager also remembers the alerts that resolved, newest first and
// bounded ([Options.History], [Manager.Resolved]), for people who look
// rather than get notified (the console's alerts page). With no routes a
// Manager still fires, resolves and remembers: it only sends nothing.
//
// Three notifiers speak the shapes people already consume: [Slack] (an
// incoming webhook, {"text": ...}), [Alertmanager] (push into Alertmanager's
// API v2, POST /api/v2/alerts; a resolution is an endsAt in the past) and
// [Webhook] (a generic JSON webhook in Alertmanager's own notification shape,
// version "4"). The shapes are specified in docs/alerts.md.
package alert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one condition, identified by its labels.
type Alert struct {
	// Labels identify the alert; "alertname" names the rule.
	Labels map[string]string `json:"labels"`
	// Annotations describe it for people: "summary", "description".
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the condition was first seen; the Manager sets it.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is zero while the alert fires and the time of resolution after.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// GeneratorURL links to where the alert comes from.
	GeneratorURL string `json:"generatorURL,omitempty"`
}

// Name returns the alert's "alertname" label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Fingerprint identifies an alert by its labels, computed exactly as
// Alertmanager does (FNV-1a 64 over the sorted label pairs), in hex.
func (a Alert) Fingerprint() string {
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// Resolved reports whether the alert had ended at time now.
func (a Alert) Resolved(now time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(now) }

// Status returns "firing" or "resolved" as seen at time now.
func (a Alert) Status(now time.Time) string {
	if a.Resolved(now) {
		return "resolved"
	}
	return "firing"
}

// String is a one-line description: "NAME{k=v,...}".
func (a Alert) String() string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(a.Name())
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, a.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// clone copies a's maps, so the Manager's copy does not change under a
// caller that reuses them (nil stays nil: every notifier writes a nil
// Annotations as none).
func (a Alert) clone() Alert {
	c := a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	return c
}

// Notifier delivers a batch of alerts, firing and resolved together (an
// alert is resolved when its EndsAt is not after now). An error means the
// batch was not delivered and will be offered again.
type Notifier interface {
	Notify(ctx context.Context, alerts []Alert, now time.Time) error
	// Name identifies the notifier in errors and logs.
	Name() string
}

// Route sends alerts to one notifier.
type Route struct {
	Notifier Notifier
	// RepeatInterval is how often a still-firing alert is sent again;
	// zero means DefaultRepeatInterval. For Alertmanager pushes keep it
	// below Alertmanager's resolve_timeout (5m by default), or Alertmanager
	// resolves the alert on its own in between.
	RepeatInterval time.Duration
}

// DefaultRepeatInterval is how often a still-firing alert is sent again
// when a route does not say (Alertmanager's own default).
const DefaultRepeatInterval = 4 * time.Hour

// Manager deduplicates and resolves alerts across evaluations. It is safe
// for concurrent use; its zero value is not usable, build it with
// NewManager.
type Manager struct {
	routes       []Route
	now          func() time.Time
	generatorURL string

	mu       sync.Mutex
	active   map[string]*tracked // fingerprint -> firing or owed-resolution alert
	resolved []Alert             // newest last, at most history
	history  int
	dropped  int64 // resolved alerts forgotten because history was full
}

type tracked struct {
	alert Alert
	sent  []time.Time // per route: last delivery of the firing alert
	owed  []bool      // per route: resolution not yet delivered
}

// Options configure a Manager.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GeneratorURL is put on alerts that do not carry one.
	GeneratorURL string
	// History is how many resolved alerts Resolved remembers (the oldest
	// are forgotten first, and counted); zero means DefaultHistory,
	// negative remembers none.
	History int
}

// DefaultHistory is how many resolved alerts a Manager remembers when
// Options.History does not say.
const DefaultHistory = 200

// NewManager returns a Manager sending to routes.
func NewManager(routes []Route, opts Options) *Manager {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	history := opts.History
	if history == 0 {
		history = DefaultHistory
	}
	return &Manager{routes: routes, now: now, generatorURL: opts.GeneratorURL, active: make(map[string]*tracked), history: max(history, 0)}
}

// Update takes the complete list of alerts whose condition holds now,
// fires the new ones, repeats the due ones, resolves the ones that went
// away, and delivers to every route. It returns the errors of the routes
// that failed (joined); what they were owed is kept for the next Update.
func (m *Manager) Update(ctx context.Context, current []Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	seen := make(map[string]bool, len(current))
	for _, a := range current {
		if a.Labels["alertname"] == "" {
			return fmt.Errorf("alert %v has no alertname label", a.Labels)
		}
		fp := a.Fingerprint()
		if seen[fp] {
			continue
		}
		seen[fp] = true
		t, ok := m.active[fp]
		if ok && t.alert.EndsAt.IsZero() {
			// Still firing: keep StartsAt, refresh the annotations.
			start := t.alert.StartsAt
			t.alert = a.clone()
			t.alert.StartsAt = start
			t.alert.EndsAt = time.Time{}
		} else {
			// New, or firing again after a resolution not yet delivered:
			// the pending resolution is dropped, the alert fires anew.
			t = &tracked{alert: a.clone(), sent: make([]time.Time, len(m.routes)), owed: make([]bool, len(m.routes))}
			t.alert.StartsAt = now
			t.alert.EndsAt = time.Time{}
			m.active[fp] = t
		}
		if t.alert.GeneratorURL == "" {
			t.alert.GeneratorURL = m.generatorURL
		}
	}
	for _, fp := range m.sortedKeys() { // sorted: the history's order is stable
		t := m.active[fp]
		if !seen[fp] && t.alert.EndsAt.IsZero() {
			t.alert.EndsAt = now
			m.remember(t.alert)
			for i := range t.owed {
				// A route never told of the firing has nothing to resolve.
				t.owed[i] = !t.sent[i].IsZero()
			}
		}
	}

	var errs []error
	for i, r := range m.routes {
		repeat := r.RepeatInterval
		if repeat <= 0 {
			repeat = DefaultRepeatInterval
		}
		var batch []Alert
		var fps []string
		for _, fp := range m.sortedKeys() {
			t := m.active[fp]
			switch {
			case !t.alert.EndsAt.IsZero() && t.owed[i]:
			case t.alert.EndsAt.IsZero() && (t.sent[i].IsZero() || now.Sub(t.sent[i]) >= repeat):
			default:
				continue
			}
			batch = append(batch, t.alert.clone())
			fps = append(fps, fp)
		}
		if len(batch) == 0 {
			continue
		}
		if err := r.Notifier.Notify(ctx, batch, now); err != nil {
			errs = append(errs, fmt.Errorf("alert: %s: %w", r.Notifier.Name(), err))
			continue
		}
		for _, fp := range fps {
			t := m.active[fp]
			if t.alert.EndsAt.IsZero() {
				t.sent[i] = now
			} else {
				t.owed[i] = false
			}
		}
	}
	for fp, t := range m.active {
		if t.alert.EndsAt.IsZero() {
			continue
		}
		done := true
		for _, o := range t.owed {
			done = done && !o
		}
		if done {
			delete(m.active, fp)
		}
	}
	return errors.Join(errs...)
}

// Firing returns the alerts firing now, sorted by name then fingerprint.
func (m *Manager) Firing() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, fp := range m.sortedKeys() {
		if t := m.active[fp]; t.alert.EndsAt.IsZero() {
			out = append(out, t.alert.clone())
		}
	}
	return out
}

// remember keeps a resolved alert in the bounded history; m.mu is held.
// An alert is remembered when it resolves, whether or not its resolution
// has been delivered yet.
func (m *Manager) remember(a Alert) {
	if m.history == 0 {
		m.dropped++
		return
	}
	if len(m.resolved) == m.history {
		m.resolved = append(m.resolved[:0], m.resolved[1:]...)
		m.dropped++
	}
	m.resolved = append(m.resolved, a.clone())
}

// Resolved returns the remembered resolved alerts, newest resolution
// first, and how many older ones were forgotten because the history
// (Options.History) was full. The history is held in memory: a restart
// forgets it.
func (m *Manager) Resolved() (alerts []Alert, forgotten int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Alert, 0, len(m.resolved))
	for i := len(m.resolved) - 1; i >= 0; i-- {
		out = append(out, m.resolved[i].clone())
	}
	return out, m.dropped
}

func (m *Manager) sortedKeys() []string {
	keys := make([]string, 0, len(m.active))
	for fp := range m.active {
		keys = append(keys, fp)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m.active[keys[i]].alert, m.active[keys[j]].alert
		if a.Name() != b.Name() {
			return a.Name() < b.Name()
		}
		return keys[i] < keys[j]
	})
	return keys
}
