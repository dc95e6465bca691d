package check_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

var dropPins = []pin.Pin{{1}, {2}}

func enforced(pattern string) policy.Policy { return policy.Policy{Pattern: pattern, Pins: dropPins} }
func reportOnly(pattern string) policy.Policy {
	return policy.Policy{Pattern: pattern, Pins: dropPins, ReportOnly: true}
}
func withSubdomains(p policy.Policy) policy.Policy { p.IncludeSubdomains = true; return p }

// TestDropGate: a manifest may not stop pinning a host the current one
// pins, however it is spelled, unless the host has been report-only in
// every published version for the whole period.
func TestDropGate(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ago := func(days int) time.Time { return now.Add(-time.Duration(days) * day) }
	h := func(at time.Time, ps ...policy.Policy) check.Published { return check.Published{At: at, Hosts: ps} }
	type want struct{ pattern, name, change string }
	cases := []struct {
		name    string
		history []check.Published // newest first
		next    []policy.Policy
		refused []want
	}{
		{"no current manifest", nil, []policy.Policy{enforced("api.example.com")}, nil},
		{"unchanged", []check.Published{h(ago(1), enforced("api.example.com"))}, []policy.Policy{enforced("api.example.com")}, nil},
		{"new pins", []check.Published{h(ago(1), enforced("api.example.com"))}, []policy.Policy{{Pattern: "api.example.com", Pins: []pin.Pin{{3}, {4}}}}, nil},
		{"exact host now under an enforced wildcard", []check.Published{h(ago(1), enforced("api.example.com"))}, []policy.Policy{enforced("*.example.com")}, nil},
		{"report-only made enforced", []check.Published{h(ago(1), reportOnly("api.example.com"))}, []policy.Policy{enforced("api.example.com")}, nil},
		{"report-only stays report-only", []check.Published{h(ago(1), reportOnly("api.example.com"))}, []policy.Policy{reportOnly("api.example.com")}, nil},
		{"enforced host dropped",
			[]check.Published{h(ago(30), enforced("api.example.com"), enforced("cdn.example.com"))}, []policy.Policy{enforced("cdn.example.com")},
			[]want{{"api.example.com", "", check.UnpinDropped}}},
		{"enforced host made report-only",
			[]check.Published{h(ago(30), enforced("api.example.com"))}, []policy.Policy{reportOnly("api.example.com")},
			[]want{{"api.example.com", "", check.UnpinReportOnly}}},
		{"every host dropped (an empty manifest cannot be signed, so an unrelated one)",
			[]check.Published{h(ago(30), enforced("api.example.com"), enforced("**.shop.example"))}, []policy.Policy{enforced("other.example.org")},
			[]want{{"**.shop.example", "", check.UnpinDropped}, {"api.example.com", "", check.UnpinDropped}}},
		{"**. narrowed to *.",
			[]check.Published{h(ago(30), enforced("**.example.com"))}, []policy.Policy{enforced("*.example.com")},
			[]want{{"**.example.com", "", check.UnpinDropped}}},
		{"include-subdomains removed",
			[]check.Published{h(ago(30), withSubdomains(enforced("example.com")))}, []policy.Policy{enforced("example.com")},
			[]want{{"example.com", "", check.UnpinDropped}}},
		{"shadowed by a more specific report-only policy",
			[]check.Published{h(ago(30), enforced("*.example.com"))}, []policy.Policy{enforced("*.example.com"), reportOnly("api.example.com")},
			[]want{{"*.example.com", "api.example.com", check.UnpinReportOnly}}},
		{"report-only for the whole period, then dropped",
			[]check.Published{h(ago(2), reportOnly("api.example.com"), enforced("cdn.example.com")), h(ago(8), reportOnly("api.example.com")), h(ago(20), enforced("api.example.com"))},
			[]policy.Policy{enforced("cdn.example.com")}, nil},
		{"report-only for exactly the period",
			[]check.Published{h(ago(7), reportOnly("api.example.com"))}, []policy.Policy{enforced("cdn.example.com")}, nil},
		{"report-only for three days, then dropped",
			[]check.Published{h(ago(3), reportOnly("api.example.com")), h(ago(20), enforced("api.example.com"))},
			[]policy.Policy{enforced("cdn.example.com")},
			[]want{{"api.example.com", "", check.UnpinDropped}}},
		{"report-only run broken by an enforced version",
			[]check.Published{h(ago(2), reportOnly("api.example.com")), h(ago(5), enforced("api.example.com")), h(ago(10), reportOnly("api.example.com"))},
			[]policy.Policy{enforced("cdn.example.com")},
			[]want{{"api.example.com", "", check.UnpinDropped}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check.DropGate(c.history, c.next, now, check.DefaultUnpinPeriod)
			if c.refused == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ue *check.UnpinError
			if !errors.As(err, &ue) || !errors.Is(err, check.ErrUnpin) {
				t.Fatalf("DropGate: %v, want an UnpinError", err)
			}
			var got []want
			for _, u := range ue.Hosts {
				got = append(got, want{u.Pattern, u.Name, u.Change})
				if u.Reason == "" || !strings.Contains(err.Error(), u.Reason) {
					t.Errorf("%+v: reason missing from %q", u, err)
				}
			}
			if len(got) != len(c.refused) {
				t.Fatalf("unpinned %+v, want %+v", got, c.refused)
			}
			for i := range got {
				if got[i] != c.refused[i] {
					t.Fatalf("unpinned %+v, want %+v", got, c.refused)
				}
			}
		})
	}
}

// A report-only host dropped too soon names since when it is report-only.
func TestDropGateSince(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	since := now.Add(-3 * day)
	hist := []check.Published{{At: now.Add(-day), Hosts: []policy.Policy{reportOnly("api.example.com")}}, {At: since, Hosts: []policy.Policy{reportOnly("api.example.com")}}, {At: now.Add(-9 * day), Hosts: []policy.Policy{enforced("api.example.com")}}}
	err := check.DropGate(hist, []policy.Policy{enforced("cdn.example.com")}, now, check.DefaultUnpinPeriod)
	var ue *check.UnpinError
	if !errors.As(err, &ue) || len(ue.Hosts) != 1 || !ue.Hosts[0].ReportOnlySince.Equal(since) || !ue.Hosts[0].ReportOnly {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), "2026-04-28T00:00:00Z") || !strings.Contains(err.Error(), "7d") {
		t.Errorf("message %q", err)
	}
	// A shorter period lets it go.
	if err := check.DropGate(hist, []policy.Policy{enforced("cdn.example.com")}, now, 3*day); err != nil {
		t.Fatal(err)
	}
}
