package scan

import (
	"context"
	"sort"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/scan/archive"
)

// Options tune a scan. The zero value scans with the wall clock, a 30-day
// expiry warning and no cross-check.
type Options struct {
	// Now is the date pin expirations are compared with; nil means
	// time.Now. Tests inject a fixed clock.
	Now func() time.Time
	// ExpiryWarning is how soon before a pin-set expiration a warning is
	// given; zero means 30 days.
	ExpiryWarning time.Duration
	// FirstParty are the domains under the developer's control: each must
	// be covered by pinning (MASVS-NETWORK-2). The hosts of Expected are
	// added to them.
	FirstParty []string
	// Expected is the signed pin manifest's policy set to cross-check the
	// app's embedded pins against; nil skips that check.
	Expected *policy.Set
	// Live returns the pins of the verified chain a host serves now
	// (e.g. through package probe); nil skips that check.
	Live func(ctx context.Context, host string) ([]pin.Pin, error)
	// Context bounds Live calls; nil means context.Background.
	Context context.Context
	// Limits bound what is read from archives; zero means
	// archive.DefaultLimits.
	Limits archive.Limits
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) warn() time.Duration {
	if o.ExpiryWarning > 0 {
		return o.ExpiryWarning
	}
	return 30 * 24 * time.Hour
}

// Report is the result of scanning one artifact: its findings and the
// pins it embeds (not a pin-failure report, which is report.Report, nor
// coverage of live servers, which is check.Report).
type Report struct {
	File     string        `json:"file"`
	Platform string        `json:"platform"` // "android" or "ios"
	Format   string        `json:"format"`   // "apk", "aab", "nsc", "ipa", "plist"
	App      App           `json:"app"`
	Pins     []EmbeddedPin `json:"pins"`
	Findings []Finding     `json:"findings"`

	seen map[findingKey]struct{} // the findings added, for add
}

// newReport is the report of one file before any finding: its lists are
// empty, not null, in JSON.
func newReport(file, platform, format string) *Report {
	return &Report{File: file, Platform: platform, Format: format, Findings: []Finding{}, Pins: []EmbeddedPin{}}
}

// App summarises what was read, for the report header.
type App struct {
	ID         string `json:"id,omitempty"` // package name or bundle id
	MinSDK     int    `json:"min_sdk,omitempty"`
	TargetSDK  int    `json:"target_sdk,omitempty"`
	Debuggable bool   `json:"debuggable,omitempty"`
	NSC        string `json:"network_security_config,omitempty"` // the entry it resolved to
	MinimumOS  string `json:"minimum_os,omitempty"`
	Plist      string `json:"plist_format,omitempty"`
	Encrypted  bool   `json:"encrypted,omitempty"`
}

// EmbeddedPin is a pin found in the app's configuration.
type EmbeddedPin struct {
	Host              string   `json:"host"`
	IncludeSubdomains bool     `json:"include_subdomains,omitempty"`
	Pin               pin.Pin  `json:"pin"`
	Source            string   `json:"source"` // "nsc", "NSPinnedDomains", "TrustKit"
	Location          Location `json:"location"`
}

// Max returns the highest severity among the findings, and false when there
// are none.
func (r *Report) Max() (Severity, bool) {
	if len(r.Findings) == 0 {
		return Info, false
	}
	m := Info
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m, true
}

// Fails reports whether any finding is at or above threshold.
func (r *Report) Fails(threshold Severity) bool {
	for _, f := range r.Findings {
		if f.Severity >= threshold {
			return true
		}
	}
	return false
}

// Count returns the number of findings per severity.
func (r *Report) Count() map[Severity]int {
	c := map[Severity]int{}
	for _, f := range r.Findings {
		c[f.Severity]++
	}
	return c
}

// findingKey identifies a finding for deduplication.
type findingKey struct {
	rule     string
	location Location
	message  string
}

// add appends a finding unless the same one is already there.
func (r *Report) add(f Finding) {
	if r.seen == nil || len(r.seen) != len(r.Findings) {
		r.seen = make(map[findingKey]struct{}, len(r.Findings)+1)
		for _, g := range r.Findings {
			r.seen[findingKey{g.RuleID, g.Location, g.Message}] = struct{}{}
		}
	}
	k := findingKey{f.RuleID, f.Location, f.Message}
	if _, ok := r.seen[k]; ok {
		return
	}
	r.seen[k] = struct{}{}
	r.Findings = append(r.Findings, f)
}

// ruleOrder is each rule's position in Rules.
var ruleOrder = func() map[string]int {
	m := make(map[string]int, len(Rules))
	for i, rule := range Rules {
		m[rule.ID] = i
	}
	return m
}()

// sort orders findings by severity (highest first), then rule order, then
// location: stable output for diffs and baselines. The keys are computed
// once per finding, not per comparison.
func (r *Report) sort() {
	type keyed struct {
		sev   Severity
		order int
		loc   string
		f     Finding
	}
	ks := make([]keyed, len(r.Findings))
	for i, f := range r.Findings {
		ks[i] = keyed{f.Severity, ruleOrder[f.RuleID], f.Location.String(), f}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := &ks[i], &ks[j]
		if a.sev != b.sev {
			return a.sev > b.sev
		}
		if a.order != b.order {
			return a.order < b.order
		}
		return a.loc < b.loc
	})
	for i := range ks {
		r.Findings[i] = ks[i].f
	}
}
