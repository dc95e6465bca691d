package console

import (
	"reflect"
	"testing"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

func testPin(name string) pin.Pin {
	var p pin.Pin
	copy(p[:], name)
	return p
}

// Each row: the host's pins, what its addresses serve, the plans' next
// pins, and the labels (the rules of labelPins, as check counts backup
// pins: check.HostResult.BackupPins).
func TestLabelPins(t *testing.T) {
	live, backup, next, other := testPin("live"), testPin("backup"), testPin("next"), testPin("other")
	served := func(verdict check.Verdict, pins ...pin.Pin) addrResult {
		return addrResult{Verdict: string(verdict), Chain: pins}
	}
	cases := []struct {
		name  string
		pins  []pin.Pin
		addrs []addrResult
		next  []pin.Pin
		want  [][]string
	}{
		{"live and backup", []pin.Pin{live, backup}, []addrResult{served(check.Accepted, live, other)}, nil,
			[][]string{{LabelLive}, {LabelBackup}}},
		{"planned next", []pin.Pin{live, next}, []addrResult{served(check.Accepted, live)}, []pin.Pin{next},
			[][]string{{LabelLive}, {LabelNext}}},
		{"next already served", []pin.Pin{live, next}, []addrResult{served(check.Accepted, live), served(check.Accepted, next)}, []pin.Pin{next},
			[][]string{{LabelLive}, {LabelLive, LabelNext}}},
		{"nothing matches: clients refuse", []pin.Pin{live, backup}, []addrResult{served(check.RefusedPin, other)}, nil,
			[][]string{{LabelNothing}, {LabelNothing}}},
		{"one address refused, another live", []pin.Pin{live, backup}, []addrResult{served(check.RefusedPin, other), served(check.Accepted, live)}, nil,
			[][]string{{LabelLive}, {LabelBackup}}},
		{"untrusted chain still shows what it serves", []pin.Pin{live, backup}, []addrResult{served(check.RefusedUntrusted, live)}, nil,
			[][]string{{LabelLive}, {LabelBackup}}},
		{"unreachable only", []pin.Pin{live, backup}, []addrResult{served(check.Unreachable)}, nil,
			[][]string{{LabelUnprobed}, {LabelUnprobed}}},
		{"never probed", []pin.Pin{live, backup}, nil, []pin.Pin{backup},
			[][]string{{LabelUnprobed}, {LabelUnprobed, LabelNext}}},
	}
	for _, tc := range cases {
		got := labelPins(policy.Policy{Pattern: "api.example.com", Pins: tc.pins}, tc.addrs, pinSet(tc.next))
		var labels [][]string
		for i, lp := range got {
			if lp.Pin != tc.pins[i] {
				t.Errorf("%s: pin %d reordered", tc.name, i)
			}
			labels = append(labels, lp.Labels)
		}
		if !reflect.DeepEqual(labels, tc.want) {
			t.Errorf("%s: labels %v, want %v", tc.name, labels, tc.want)
		}
	}
}

func pinSet(ps []pin.Pin) map[pin.Pin]bool {
	m := map[pin.Pin]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

func TestDiffManifests(t *testing.T) {
	a, b, c := testPin("a"), testPin("b"), testPin("c")
	from := []policy.Policy{
		{Pattern: "api.example.com", Pins: []pin.Pin{a, b}},
		{Pattern: "old.example.com", Pins: []pin.Pin{a, b}},
		{Pattern: "same.example.com", Pins: []pin.Pin{a, b}},
		{Pattern: "flag.example.com", Pins: []pin.Pin{a, b}},
	}
	to := []policy.Policy{
		{Pattern: "api.example.com", Pins: []pin.Pin{a, c}},
		{Pattern: "new.example.com", Pins: []pin.Pin{b, c}},
		{Pattern: "same.example.com", Pins: []pin.Pin{b, a}},
		{Pattern: "flag.example.com", Pins: []pin.Pin{a, b}, ReportOnly: true},
	}
	got := diffManifests(from, to)
	want := []HostDiff{
		{Pattern: "api.example.com", Change: "changed", Added: []pin.Pin{c}, Removed: []pin.Pin{b}, Kept: []pin.Pin{a}},
		{Pattern: "flag.example.com", Change: "changed", Kept: []pin.Pin{a, b}, Notes: []string{"report-only turned on"}},
		{Pattern: "new.example.com", Change: "added", Added: []pin.Pin{b, c}},
		{Pattern: "old.example.com", Change: "removed", Removed: []pin.Pin{a, b}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff:\n got %+v\nwant %+v", got, want)
	}
}
