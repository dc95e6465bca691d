package console

import (
	"encoding/json"
	"sort"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/store"
)

// Pin labels on the manifest page.
const (
	LabelLive     = "live"            // in the verified chain an address of the host serves now
	LabelNext     = "next"            // the next pin of an active rotation plan for the host
	LabelBackup   = "backup"          // served nowhere on the host while another pin is: a key held back
	LabelNothing  = "matches nothing" // served nowhere on the host, and no pin of the host is: clients refuse it
	LabelUnprobed = "not probed"      // the monitor has no result for the host yet
)

// addrResult is one address of the newest monitor round.
type addrResult struct {
	Host     string
	Port     int
	Addr     string
	Time     time.Time
	Verdict  string // a check.Verdict, or "unresolved"
	Reason   string
	Served   string // the leaf's pin (okhttp spelling), "" when nothing was served
	NotAfter time.Time
	Matched  []pin.Pin
	Chain    []pin.Pin // verified chain (or the served chain when it did not verify)
	Pattern  string    // the manifest pattern covering the host
}

// Refused reports whether clients refuse this address.
func (a addrResult) Refused() bool { return check.Verdict(a.Verdict).Refused() }

// Problem reports whether the address needs attention (refused,
// unreachable or unresolved).
func (a addrResult) Problem() bool {
	return a.Verdict != string(check.Accepted) && a.Verdict != string(check.AcceptedReportOnly)
}

// decodeProbes turns the store's rows into address results. The detail
// is the monitor's check.AddressResult JSON (or {"error": ...} for a host
// that did not resolve); the store holds what the monitor wrote, and a
// row whose detail does not decode is shown with its stored fields only.
func decodeProbes(rows []store.ProbeResult, set *policy.Set) []addrResult {
	out := make([]addrResult, 0, len(rows))
	for _, r := range rows {
		a := addrResult{Host: r.Host, Port: r.Port, Addr: r.Addr, Time: r.Time, NotAfter: r.NotAfter}
		if set != nil {
			if p, ok := set.Match(r.Host); ok {
				a.Pattern = p.Pattern
			}
		}
		if r.Addr == "" {
			var e struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(r.Detail, &e)
			a.Verdict, a.Reason = "unresolved", e.Error
			out = append(out, a)
			continue
		}
		var d check.AddressResult
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			a.Verdict, a.Reason = verdictOf(r), "the stored detail does not decode: "+err.Error()
			out = append(out, a)
			continue
		}
		a.Verdict, a.Reason, a.Matched = string(d.Verdict), d.Reason, d.MatchedPins
		if len(d.Chain) > 0 {
			a.Served = d.Chain[0].Pin.Format(pin.OkHttp)
		}
		chain := d.VerifiedChain
		if len(chain) == 0 {
			chain = d.Chain
		}
		for _, c := range chain {
			a.Chain = append(a.Chain, c.Pin)
		}
		out = append(out, a)
	}
	return out
}

// verdictOf is the verdict the stored flags allow (for rows whose detail
// is unreadable).
func verdictOf(r store.ProbeResult) string {
	switch {
	case !r.OK:
		return string(check.Unreachable)
	case r.Covered:
		return string(check.Accepted)
	}
	return string(check.RefusedPin)
}

// LabelledPin is a manifest pin with what the service knows of it.
type LabelledPin struct {
	Pin    pin.Pin
	Labels []string
}

// labelPins labels the pins of one host policy from the newest monitor
// round of the host's addresses and the next pins of active rotation
// plans for it. A pin is live when an address of the host serves it in
// its verified chain (or, for an address whose chain does not verify, in
// the chain it serves); next when a plan names it; otherwise backup when
// some other pin of the host is live (a key held back, as check counts
// backup pins) and matches nothing when none is (clients refuse the
// host). Without any answering address the pins are "not probed".
func labelPins(pol policy.Policy, addrs []addrResult, next map[pin.Pin]bool) []LabelledPin {
	served := map[pin.Pin]bool{}
	answered := false
	for _, a := range addrs {
		if a.Verdict == string(check.Unreachable) || a.Verdict == "unresolved" {
			continue
		}
		answered = true
		for _, p := range a.Chain {
			served[p] = true
		}
	}
	anyLive := false
	for _, p := range pol.Pins {
		anyLive = anyLive || served[p]
	}
	out := make([]LabelledPin, 0, len(pol.Pins))
	for _, p := range pol.Pins {
		lp := LabelledPin{Pin: p}
		switch {
		case served[p]:
			lp.Labels = append(lp.Labels, LabelLive)
		case !answered:
			lp.Labels = append(lp.Labels, LabelUnprobed)
		case anyLive && !next[p]:
			lp.Labels = append(lp.Labels, LabelBackup)
		case !anyLive:
			lp.Labels = append(lp.Labels, LabelNothing)
		}
		if next[p] {
			lp.Labels = append(lp.Labels, LabelNext)
		}
		out = append(out, lp)
	}
	return out
}

// HostDiff is how one host pattern changed between two manifests.
type HostDiff struct {
	Pattern string
	Change  string // "added", "removed" or "changed"
	Added   []pin.Pin
	Removed []pin.Pin
	Kept    []pin.Pin
	Notes   []string // other changes: report-only, include-subdomains
}

// diffManifests lists the host patterns whose pins or flags differ
// between from and to, sorted by pattern.
func diffManifests(from, to []policy.Policy) []HostDiff {
	a, b := map[string]policy.Policy{}, map[string]policy.Policy{}
	keys := map[string]bool{}
	for _, p := range from {
		a[p.Pattern], keys[p.Pattern] = p, true
	}
	for _, p := range to {
		b[p.Pattern], keys[p.Pattern] = p, true
	}
	var out []HostDiff
	for k := range keys {
		pa, inA := a[k]
		pb, inB := b[k]
		d := HostDiff{Pattern: k}
		switch {
		case !inA:
			d.Change, d.Added = "added", pb.Pins
		case !inB:
			d.Change, d.Removed = "removed", pa.Pins
		default:
			for _, p := range pb.Pins {
				if pin.Contains(pa.Pins, p) {
					d.Kept = append(d.Kept, p)
				} else {
					d.Added = append(d.Added, p)
				}
			}
			for _, p := range pa.Pins {
				if !pin.Contains(pb.Pins, p) {
					d.Removed = append(d.Removed, p)
				}
			}
			if pa.ReportOnly != pb.ReportOnly {
				d.Notes = append(d.Notes, flagChange("report-only", pa.ReportOnly, pb.ReportOnly))
			}
			if pa.IncludeSubdomains != pb.IncludeSubdomains {
				d.Notes = append(d.Notes, flagChange("include-subdomains", pa.IncludeSubdomains, pb.IncludeSubdomains))
			}
			if len(d.Added)+len(d.Removed)+len(d.Notes) == 0 {
				continue
			}
			d.Change = "changed"
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

func flagChange(name string, from, to bool) string {
	if to {
		return name + " turned on"
	}
	return name + " turned off"
}
