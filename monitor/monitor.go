// Package monitor keeps watching what `pinset check` checks once: every
// concrete host of every published manifest, at every address, on a
// schedule, inside `pinset serve`.
//
// Each round ([Monitor.RunOnce]) reads the apps and their current
// manifests from the service's [store.Store], runs [check.Run] on each
// manifest's hosts, appends one [store.ProbeResult] per address to the
// store's history, updates the Prometheus metrics, and hands the alerts
// whose conditions hold to an [alert.Manager], which fires, deduplicates
// and resolves them. [Monitor.Run] repeats rounds every Config.Interval.
//
// Metrics never vanish when a probe fails: an address that stops
// answering keeps its series, with probe success 0 and the last
// certificate expiry and coverage that were seen, and a failing probe
// raises an alert. The metrics and alert rules are listed in
// docs/monitoring.md.
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/audit"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// Defaults.
const (
	DefaultInterval       = 5 * time.Minute
	DefaultSpikeThreshold = 20
	DefaultSpikeWindow    = 15 * time.Minute
	DefaultUnpinWindow    = 24 * time.Hour
)

// Config configures a Monitor.
type Config struct {
	// Interval between rounds; zero means DefaultInterval.
	Interval time.Duration
	// Check holds the probe settings (roots, timeout, expiry warning,
	// port, resolve overrides). Its Now is replaced by Config.Now.
	Check check.Options
	// Alerts receives the alerts of every round; nil means a manager with
	// no routes (alerts fire, resolve and are remembered for the console
	// and the admin API, and nothing is sent).
	Alerts *alert.Manager
	// SpikeThreshold is how many pin-failure report events for one host
	// within SpikeWindow raise PinsetPinFailureReportSpike. Zero means
	// DefaultSpikeThreshold; negative disables the rule.
	SpikeThreshold int
	// SpikeWindow is the window for SpikeThreshold.
	SpikeWindow time.Duration
	// UnpinWindow is how long PinsetHostUnpinned fires after a manifest
	// that stopped enforcing an enforced host was published (which the
	// service allows only with force_unpin). Zero means
	// DefaultUnpinWindow; negative disables the rule.
	UnpinWindow time.Duration
	// Manifests returns an app's current manifest, decoded (an error
	// matching store.ErrNotFound when it has none). pinset serve passes
	// server.Server.CurrentManifest, so the service decodes each current
	// manifest once, for the documents it serves and for the monitor. Nil
	// means the monitor reads and decodes the store's itself (a monitor
	// without a server, as in tests).
	Manifests func(ctx context.Context, app string) (*trust.Manifest, error)
	// LogAudit, when set, audits each app's transparency log every round
	// (PinsetTransparencyLogProblem); nil: no audit.
	LogAudit LogAuditFunc
	// ACME, when set, is the ACME schedule's status, read every round
	// (PinsetACMEFailing, PinsetRenewalOverdue).
	ACME ACMEStatusFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per round and per problem; nil discards.
	Logger *slog.Logger
}

// Monitor runs rounds of checks. It is safe for concurrent use.
type Monitor struct {
	st  store.Store
	cfg Config

	runMu sync.Mutex // one round at a time
	updMu sync.Mutex // one alert update at a time (a round's, or a raised alert's)

	mu         sync.Mutex
	state      state
	lastAlerts []alert.Alert          // the last round's alerts; written by RunOnce only
	raised     map[string]raisedAlert // alerts raised between rounds, by fingerprint
	metrics    *metrics
}

// New returns a Monitor over st.
func New(st store.Store, cfg Config) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.SpikeThreshold == 0 {
		cfg.SpikeThreshold = DefaultSpikeThreshold
	}
	if cfg.UnpinWindow == 0 {
		cfg.UnpinWindow = DefaultUnpinWindow
	}
	if cfg.SpikeWindow <= 0 {
		cfg.SpikeWindow = DefaultSpikeWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Check.ExpiryWarning == 0 {
		cfg.Check.ExpiryWarning = check.DefaultExpiryWarning
	}
	cfg.Check.Now = cfg.Now
	if cfg.Alerts == nil {
		cfg.Alerts = alert.NewManager(nil, alert.Options{Now: cfg.Now})
	}
	m := &Monitor{st: st, cfg: cfg, state: newState(), raised: map[string]raisedAlert{}}
	m.metrics = newMetrics(m)
	return m
}

// Round is the outcome of one round.
type Round struct {
	Time time.Time
	// Reports are the check reports, per app id.
	Reports map[string]*check.Report
	// Alerts are the alerts whose conditions held.
	Alerts []alert.Alert
	// ReportEvents counts pin-failure reports per app and manifest pattern
	// (the one covering the report's host, or OtherHosts) that arrived in
	// the spike window (to the minute), repeats included.
	ReportEvents map[string]map[string]int64
	// Unpins are the manifests published within UnpinWindow that stopped
	// enforcing hosts their predecessor enforced.
	Unpins []Unpin
	// LogProblems are the problems the transparency log audit found, per
	// app (with Config.LogAudit).
	LogProblems map[string][]audit.Problem
	// ACME is the ACME schedule's status at Time (with Config.ACME).
	ACME []renew.Status
}

// Unpin is one published manifest that stopped enforcing hosts.
type Unpin struct {
	App       string
	Version   int64
	Published time.Time
	Hosts     []check.Unpinned
}

// Run runs a round now and then every Interval until ctx ends. Errors of
// a round are logged, not returned: monitoring goes on.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Error("monitor round", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// manifests is Config.Manifests, or the store's current manifest decoded.
func (m *Monitor) manifests(ctx context.Context, app string) (*trust.Manifest, error) {
	if m.cfg.Manifests != nil {
		return m.cfg.Manifests(ctx, app)
	}
	doc, err := m.st.Manifest(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	// The service verified the manifest before storing it.
	man, err := trust.DecodeManifestUnverified(doc.Body)
	if err != nil {
		return nil, fmt.Errorf("manifest v%d: %w", doc.Version, err)
	}
	return man, nil
}

// RunOnce checks every app's current manifest once, records history and
// metrics, and updates the alerts. The error joins what went wrong (a
// manifest that does not decode, the store, alert delivery); whatever
// could be checked still was.
func (m *Monitor) RunOnce(ctx context.Context) (*Round, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	start := m.cfg.Now()
	r := &Round{Time: start, Reports: map[string]*check.Report{}, ReportEvents: map[string]map[string]int64{}}
	var errs []error
	apps, err := m.st.Apps(ctx)
	if err != nil {
		m.metrics.roundFailed()
		return nil, fmt.Errorf("monitor: listing apps: %w", err)
	}
	next := newState()
	var carried []string // apps that could not be checked this round
	for _, app := range apps {
		if app.ManifestVersion == 0 {
			continue
		}
		man, err := m.manifests(ctx, app.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("monitor: %s: %w", app.ID, err))
			next.carry(app.ID, m.prev())
			carried = append(carried, app.ID)
			continue
		}
		rep, err := check.Run(ctx, man.Hosts, nil, m.cfg.Check)
		if err != nil {
			errs = append(errs, fmt.Errorf("monitor: %s: manifest v%d: %w", app.ID, man.Version, err))
			next.carry(app.ID, m.prev())
			carried = append(carried, app.ID)
			continue
		}
		r.Reports[app.ID] = rep
		next.addReport(app.ID, man.Version, rep, m.prev())
		if err := m.st.AddProbeResults(ctx, probeResults(app.ID, rep)); err != nil {
			errs = append(errs, fmt.Errorf("monitor: %s: storing results: %w", app.ID, err))
		}
		for _, u := range rep.Unprobed {
			m.cfg.Logger.Info("monitor: pattern not probed", "app", app.ID, "pattern", u.Pattern, "reason", u.Reason)
		}
		if m.cfg.SpikeThreshold > 0 {
			counts, err := m.reportCounts(ctx, app.ID, man, start.Add(-m.cfg.SpikeWindow), start)
			if err != nil {
				errs = append(errs, fmt.Errorf("monitor: %s: counting reports: %w", app.ID, err))
			} else {
				r.ReportEvents[app.ID] = counts
				next.reports[app.ID] = counts
			}
		}
	}
	if m.cfg.UnpinWindow > 0 {
		for _, app := range apps {
			u, err := m.unpins(ctx, app.ID, start)
			if err != nil {
				errs = append(errs, fmt.Errorf("monitor: %s: reading the manifest history: %w", app.ID, err))
			}
			r.Unpins = append(r.Unpins, u...)
		}
	}
	ids := make([]string, 0, len(apps))
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	logCarried, logErrs := m.auditLogs(ctx, ids, r)
	errs = append(errs, logErrs...)
	if m.cfg.ACME != nil {
		r.ACME = m.cfg.ACME(start)
	}
	r.Alerts = append(append(m.rules(r), logRules(r)...), acmeRules(r.ACME)...)
	for _, a := range m.lastAlerts {
		if a.Labels["alertname"] == AlertLogProblem && slices.Contains(logCarried, a.Labels["app"]) && !slices.Contains(carried, a.Labels["app"]) {
			r.Alerts = append(r.Alerts, a)
		}
	}
	// An app that could not be checked keeps its alerts: a failure of the
	// monitor must not resolve them.
	for _, a := range m.lastAlerts {
		if slices.Contains(carried, a.Labels["app"]) {
			r.Alerts = append(r.Alerts, a)
		}
	}
	// The alerts raised between rounds (RaiseRotationSpike) hold until
	// they expire; the round's own alerts replace the last round's.
	m.updMu.Lock()
	m.mu.Lock()
	m.lastAlerts = r.Alerts
	m.state = next
	r.Alerts = append(r.Alerts, m.liveRaised(start)...)
	current := slices.Clone(r.Alerts)
	m.mu.Unlock()
	if err := m.cfg.Alerts.Update(ctx, current); err != nil {
		m.metrics.notifyFailed()
		errs = append(errs, err)
	}
	m.updMu.Unlock()
	m.metrics.roundDone(start, m.cfg.Now().Sub(start), r.Alerts)
	m.cfg.Logger.Info("monitor round", "apps", len(r.Reports), "alerts", len(r.Alerts), "duration", m.cfg.Now().Sub(start))
	return r, errors.Join(errs...)
}

// maxUnpinVersions bounds the manifests read per app and round for
// PinsetHostUnpinned.
const maxUnpinVersions = 50

// unpins finds the manifests of app published within UnpinWindow before
// now that stopped enforcing a host their predecessor enforced, as
// check.DropGate judges it with no waiting period: only what the service
// publishes with force_unpin (or what reached the store another way).
func (m *Monitor) unpins(ctx context.Context, app string, now time.Time) ([]Unpin, error) {
	list, err := m.st.Manifests(ctx, app) // newest first, without bodies
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-m.cfg.UnpinWindow)
	n := 0
	for n < len(list) && n < maxUnpinVersions && list[n].CreatedAt.After(cutoff) {
		n++
	}
	if n == 0 {
		return nil, nil
	}
	if n < len(list) {
		n++ // the predecessor of the oldest one in the window
	}
	docs := make([]check.Published, n)
	for i := range n {
		d, err := m.st.ManifestVersion(ctx, app, list[i].Version)
		if err != nil {
			return nil, err
		}
		man, err := trust.DecodeManifestUnverified(d.Body)
		if err != nil {
			return nil, fmt.Errorf("manifest v%d: %w", d.Version, err)
		}
		docs[i] = check.Published{Version: man.Version, Hosts: man.Hosts, At: d.CreatedAt}
	}
	var out []Unpin
	for i := 0; i+1 < n; i++ {
		if !docs[i].At.After(cutoff) {
			continue
		}
		var ue *check.UnpinError
		if errors.As(check.DropGate(docs[i+1:i+2], docs[i].Hosts, docs[i].At, 0), &ue) {
			out = append(out, Unpin{App: app, Version: int64(docs[i].Version), Published: docs[i].At, Hosts: ue.Hosts})
		}
	}
	return out, nil
}

// reportHostLabel is the "host" label of report counts and of the spike
// alert: the manifest pattern that covers the report's host, or "other".
// Reports come from anyone; a label taken verbatim from them would let a
// client add series (and alerts) without bound, so the label values are
// the patterns an admin published, plus one.
func reportHostLabel(set *policy.Set, host string) string {
	if p, ok := set.Match(host); ok {
		return p.Pattern
	}
	return OtherHosts
}

// OtherHosts is the report-count label of hosts no pattern of the current
// manifest covers.
const OtherHosts = "other"

func (m *Monitor) prev() state {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// probeResults turns a report into history rows, one per address (and one
// with an empty address for a host that did not resolve).
func probeResults(app string, rep *check.Report) []store.ProbeResult {
	var out []store.ProbeResult
	for _, h := range rep.Hosts {
		if h.Error != "" {
			detail, _ := json.Marshal(map[string]string{"error": h.Error})
			out = append(out, store.ProbeResult{App: app, Host: h.Host, Port: h.Port, Time: rep.CheckedAt, Detail: detail})
			continue
		}
		for _, a := range h.Addresses {
			detail, _ := json.Marshal(a)
			out = append(out, store.ProbeResult{
				App: app, Host: h.Host, Port: h.Port, Addr: a.Address, Time: rep.CheckedAt,
				OK: a.Verdict != check.Unreachable, NotAfter: a.NotAfter, Covered: !a.Verdict.Refused() && a.Verdict != check.Unreachable,
				Detail: detail,
			})
		}
	}
	return out
}

// state is what the metrics show between rounds.
type state struct {
	addrs   map[addrKey]*addrState
	hosts   map[hostKey]*hostState
	reports map[string]map[string]int64 // app -> host -> events in window
}

type addrKey struct {
	app, host string
	port      int
	addr      string
}

type hostKey struct {
	app, host string
	port      int
}

type addrState struct {
	success       bool
	covered       float64 // 1 clients accept, 0 they refuse; last known when unreachable
	known         bool    // covered and notAfter hold a seen value
	notAfter      time.Time
	chainNotAfter time.Time
	lastSuccess   time.Time
}

type hostState struct {
	manifest   uint64
	pinned     bool
	pins       int
	backupPins int // -1 unknown
	resolved   bool
}

func newState() state {
	return state{addrs: map[addrKey]*addrState{}, hosts: map[hostKey]*hostState{}, reports: map[string]map[string]int64{}}
}

// addReport folds one app's report in, carrying last known values over
// from prev for addresses that did not answer, and keeping the addresses
// of a host that did not resolve (as failing) rather than dropping them.
func (s state) addReport(app string, version uint64, rep *check.Report, prev state) {
	for _, h := range rep.Hosts {
		hk := hostKey{app, h.Host, h.Port}
		hs := &hostState{manifest: version, pinned: h.Pattern != "", pins: len(h.Pins), backupPins: h.BackupPins, resolved: h.Error == ""}
		if hs.backupPins < 0 {
			if old, ok := prev.hosts[hk]; ok {
				hs.backupPins = old.backupPins
			}
		}
		s.hosts[hk] = hs
		if h.Error != "" {
			for k, old := range prev.addrs {
				if k.app == app && k.host == h.Host && k.port == h.Port {
					c := *old
					c.success = false
					s.addrs[k] = &c
				}
			}
			continue
		}
		for _, a := range h.Addresses {
			k := addrKey{app, h.Host, h.Port, a.Address}
			st := &addrState{success: a.Verdict != check.Unreachable}
			if old, ok := prev.addrs[k]; ok {
				*st = *old
				st.success = a.Verdict != check.Unreachable
			}
			if st.success {
				st.known = true
				st.lastSuccess = rep.CheckedAt
				st.notAfter, st.chainNotAfter = a.NotAfter, a.EarliestNotAfter
				st.covered = 0
				if a.Verdict == check.Accepted || a.Verdict == check.AcceptedReportOnly {
					st.covered = 1
				}
			}
			s.addrs[k] = st
		}
	}
}

// carry keeps an app's series from prev, marked failing, when the app
// could not be checked this round: metrics do not vanish on failure.
func (s state) carry(app string, prev state) {
	for k, old := range prev.addrs {
		if k.app == app {
			c := *old
			c.success = false
			s.addrs[k] = &c
		}
	}
	for k, old := range prev.hosts {
		if k.app == app {
			c := *old
			s.hosts[k] = &c
		}
	}
}

func sortedAddrKeys(m map[addrKey]*addrState) []addrKey {
	keys := make([]addrKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.host != b.host {
			return a.host < b.host
		}
		if a.port != b.port {
			return a.port < b.port
		}
		return a.addr < b.addr
	})
	return keys
}
