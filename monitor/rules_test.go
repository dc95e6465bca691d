package monitor

import (
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
)

// The monitor's coverage alerts are check's findings mapped, not conditions
// it derives again: a finding alone (no address data behind it) alerts,
// address data alone (no finding) does not, two expiring certificates of
// one address are one alert for the earlier, the two backup findings of a
// host are one alert, and report-only hosts get none.
func TestCoverageAlertsMapFindings(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := pin.Pin{7}
	rep := &check.Report{
		CheckedAt: now,
		Hosts: []check.HostResult{
			{Host: "a.example", Port: 443, Pattern: "a.example", Pins: []pin.Pin{p},
				// An address check did not call refused or expiring: no alert.
				Addresses: []check.AddressResult{{Address: "127.0.0.9:443", Verdict: check.Accepted, Verified: true, EarliestNotAfter: now.Add(time.Hour)}}},
			{Host: "r.example", Port: 443, Pattern: "r.example", Pins: []pin.Pin{p}, ReportOnly: true},
		},
		Findings: []check.Finding{
			{Code: check.CodeRefusedPin, Host: "a.example", Port: 443, Address: "127.0.0.2:443", Pin: &p, Message: "refused"},
			{Code: check.CodeExpiring, Host: "a.example", Port: 443, Address: "127.0.0.3:443", NotAfter: now.Add(48 * time.Hour), Message: "leaf"},
			{Code: check.CodeExpiring, Host: "a.example", Port: 443, Address: "127.0.0.3:443", NotAfter: now.Add(24 * time.Hour), Message: "intermediate"},
			{Code: check.CodeNoBackupPin, Host: "a.example", Port: 443, Message: "one pin"},
			{Code: check.CodeNoKeyHeldBack, Host: "a.example", Port: 443, Message: "all served"},
			{Code: check.CodeNoBackupPin, Host: "r.example", Port: 443, Message: "report-only"},
			{Code: check.CodeUnmatchedPin, Pattern: "a.example", Message: "info only"},
		},
	}
	got := map[string][]string{}
	for _, a := range coverageAlerts("shop", rep) {
		got[a.Name()] = append(got[a.Name()], a.Labels["host"]+" "+a.Labels["address"]+" "+a.Annotations["description"])
	}
	want := map[string][]string{
		AlertCoverageLost: {"a.example 127.0.0.2:443 refused"},
		AlertExpiring:     {"a.example 127.0.0.3:443 intermediate"},
		AlertNoBackupPin:  {"a.example  one pin"},
	}
	if len(got) != len(want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	for k, w := range want {
		if g := got[k]; len(g) != len(w) || g[0] != w[0] {
			t.Errorf("%s: %q, want %q", k, g, w)
		}
	}
}
