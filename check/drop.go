package check

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"pinset.dev/pinset/policy"
)

// DefaultUnpinPeriod is how long a host must have been report-only in the
// published manifests before a manifest may drop it without force.
const DefaultUnpinPeriod = 7 * 24 * time.Hour

// Published is one version of an app's manifest as the service published
// it.
type Published struct {
	Version uint64
	Hosts   []policy.Policy
	// At is when the service published it, by the service's clock (not
	// the signer's issued-at, which whoever signs chooses).
	At time.Time
}

// Changes of an Unpinned host.
const (
	UnpinDropped    = "dropped"     // no policy of the new manifest covers the name
	UnpinReportOnly = "report-only" // the new manifest's policy for the name is report-only
)

// Unpinned is a host a new manifest would stop pinning.
type Unpinned struct {
	// Pattern is the current manifest's policy that covers the name.
	Pattern string `json:"pattern"`
	// Name is the host that loses its pins when it is not the pattern
	// itself (a more specific report-only policy under a wildcard);
	// empty when the whole pattern does.
	Name string `json:"name,omitempty"`
	// Change is UnpinDropped or UnpinReportOnly.
	Change string `json:"change"`
	// ReportOnly: the current manifest has the host report-only already,
	// since ReportOnlySince (less than the period ago).
	ReportOnly      bool      `json:"report_only,omitempty"`
	ReportOnlySince time.Time `json:"report_only_since,omitzero"`
	Reason          string    `json:"reason"`
}

// ErrUnpin is matched by an *UnpinError.
var ErrUnpin = errors.New("the manifest unpins hosts")

// UnpinError refuses a manifest that stops pinning hosts the current
// manifest pins. errors.Is(err, ErrUnpin) holds.
type UnpinError struct {
	Hosts  []Unpinned
	Period time.Duration
}

// Error names every host and why.
func (e *UnpinError) Error() string {
	return errorList(fmt.Sprintf("the manifest unpins %d host(s): ", len(e.Hosts)), e.Hosts, func(u Unpinned) string { return u.Reason }) +
		fmt.Sprintf(" (make a host report-only for %s before dropping it, or force the unpinning)", humanDuration(e.Period))
}

// Is makes errors.Is(err, ErrUnpin) true.
func (e *UnpinError) Is(target error) bool { return target == ErrUnpin }

// probeLabel stands for "any name" under a wildcard when DropGate asks the
// policy sets which policy covers it.
const probeLabel = "pinset-unpin-check"

// names are the host names DropGate asks about for one policy: the name
// itself, and for wildcards a name one and two labels below the base.
func names(p policy.Policy) []string {
	pat, err := policy.ParsePattern(p.Pattern, p.IncludeSubdomains)
	if err != nil {
		return nil
	}
	switch pat.Wildcard {
	case policy.OneLabel:
		return []string{probeLabel + "." + pat.Base}
	case policy.AnyDepth, policy.Subdomain:
		return []string{pat.Base, probeLabel + "." + pat.Base, probeLabel + "." + probeLabel + "." + pat.Base}
	}
	return []string{pat.Base}
}

// DropGate is the one decision on unpinning: it returns an *UnpinError
// when next stops pinning a host that the current manifest (history[0])
// pins, that is when a name some current policy covers is covered by no
// policy of next, or only by a report-only one, unless
//
//   - the current manifest has the name report-only and next keeps it
//     report-only (nothing changes), or
//   - next drops a name that every published version has had
//     report-only, without a break, since at least period before now.
//
// So an enforced host is never unpinned at once, however it is done
// (removed, made report-only, narrowed from **. to *., shadowed by a more
// specific report-only policy): it takes a force, which the caller audits
// and alerts, or two publications at least period apart with the host
// report-only in between, during which clients send reports. One
// signature by an online pins key cannot do it quietly.
//
// history holds the published manifests, newest first, history[0] being
// the current one; it must reach back to the first version published at
// or before now-period, or to the first version (a shorter history only
// makes the gate stricter). No history (no current manifest) passes.
func DropGate(history []Published, next []policy.Policy, now time.Time, period time.Duration) error {
	if len(history) == 0 {
		return nil
	}
	cur, err := policy.NewSet(history[0].Hosts)
	if err != nil {
		return fmt.Errorf("the current manifest v%d: %w", history[0].Version, err)
	}
	nx, err := policy.NewSet(next)
	if err != nil {
		return err
	}
	// Names the current policies cover stand for the whole pattern; names
	// of next's policies find the ones a more specific policy shadows.
	type candidate struct {
		name     string
		fromNext bool
	}
	var candidates []candidate
	for _, p := range history[0].Hosts {
		for _, n := range names(p) {
			candidates = append(candidates, candidate{n, false})
		}
	}
	for _, p := range next {
		for _, n := range names(p) {
			candidates = append(candidates, candidate{n, true})
		}
	}
	sets := make([]*policy.Set, len(history)) // built on demand
	sets[0] = cur
	seen := map[string]bool{}
	var out []Unpinned
	for _, c := range candidates {
		n := c.name
		cp, ok := cur.Match(n)
		if !ok {
			continue
		}
		np, still := nx.Match(n)
		if still && !np.ReportOnly {
			continue
		}
		if cp.ReportOnly && still {
			continue
		}
		u := Unpinned{Pattern: cp.Pattern, Change: UnpinDropped, ReportOnly: cp.ReportOnly}
		if still {
			u.Change = UnpinReportOnly
		}
		if c.fromNext && !strings.Contains(n, probeLabel) {
			if pat, err := policy.ParsePattern(cp.Pattern, cp.IncludeSubdomains); err != nil || pat.Wildcard != policy.Exact || pat.Base != n {
				u.Name = n
			}
		}
		what := fmt.Sprintf("%q", u.Pattern)
		if u.Name != "" {
			what = fmt.Sprintf("%s (under %q)", u.Name, u.Pattern)
		}
		if cp.ReportOnly {
			since := reportOnlySince(history, sets, n)
			if !since.IsZero() && now.Sub(since) >= period {
				continue
			}
			u.ReportOnlySince = since
			u.Reason = fmt.Sprintf("%s is dropped after being report-only only since %s (less than %s)",
				what, since.UTC().Format(time.RFC3339), humanDuration(period))
		} else if u.Change == UnpinDropped {
			u.Reason = fmt.Sprintf("%s is enforced now and the manifest drops it", what)
		} else {
			u.Reason = fmt.Sprintf("%s is enforced now and the manifest makes it report-only (policy %q)", what, np.Pattern)
		}
		key := u.Pattern + "\x00" + u.Name + "\x00" + u.Change
		if !seen[key] {
			seen[key] = true
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Name < out[j].Name
	})
	return &UnpinError{Hosts: out, Period: period}
}

// reportOnlySince returns when the unbroken run of published versions,
// ending at the current one, in which name is covered by a report-only
// policy began: the publication time of the oldest version of the run.
func reportOnlySince(history []Published, sets []*policy.Set, name string) time.Time {
	var since time.Time
	for i, h := range history {
		if sets[i] == nil {
			s, err := policy.NewSet(h.Hosts)
			if err != nil {
				break // a version that does not decode ends the run: stricter
			}
			sets[i] = s
		}
		p, ok := sets[i].Match(name)
		if !ok || !p.ReportOnly {
			break
		}
		since = h.At
	}
	return since
}
