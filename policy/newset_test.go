package policy

import (
	"net"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
)

// TestNewSetDuplicates: two policies covering the same names are refused,
// whatever their spelling; policies that differ in reach are not.
func TestNewSetDuplicates(t *testing.T) {
	two := []pin.Pin{testPin(1), testPin(2)}
	pol := func(pattern string, sub bool) Policy {
		return Policy{Pattern: pattern, Pins: two, IncludeSubdomains: sub}
	}
	dups := [][2]Policy{
		{pol("api.example.com", false), pol("API.Example.com.", false)},
		{pol("**.example.com", false), pol("example.com", true)},
		{pol("example.com", true), pol("**.EXAMPLE.com", false)},
		{pol("*.example.com", false), pol("*.Example.COM", false)},
		{pol("2001:db8::1", false), pol("[2001:DB8:0::1]", false)},
		{pol("192.0.2.7", false), pol("192.0.2.7", false)},
		{pol("bücher.example", false), pol("xn--bcher-kva.example", false)},
	}
	for _, d := range dups {
		_, err := NewSet([]Policy{pol("other.example.org", false), d[0], d[1]})
		if err == nil || !strings.Contains(err.Error(), "both cover the same names") || !strings.Contains(err.Error(), d[0].Pattern) {
			t.Errorf("%q and %q: %v, want a duplicate error naming the first", d[0].Pattern, d[1].Pattern, err)
		}
	}
	distinct := []Policy{
		pol("example.com", false),
		pol("*.example.com", false),
		pol("**.example.com", false),
		pol("api.example.com", true),
		pol("192.0.2.7", false),
		pol("192.0.2.8", false),
	}
	s, err := NewSet(distinct)
	if err != nil {
		t.Fatalf("distinct policies refused: %v", err)
	}
	if s.Len() != len(distinct) {
		t.Fatalf("Len %d, want %d", s.Len(), len(distinct))
	}
	for host, want := range map[string]string{
		"example.com":       "example.com",
		"a.example.com":     "*.example.com",
		"a.b.example.com":   "**.example.com",
		"x.api.example.com": "api.example.com",
		"192.0.2.8":         "192.0.2.8",
	} {
		if p, ok := s.Match(host); !ok || p.Pattern != want {
			t.Errorf("Match(%q) = %q, %v; want %q", host, p.Pattern, ok, want)
		}
	}
}

// TestNewSetPinsIndependent: the set's pins share one array but no
// policy's slice reaches into another's, and the caller's slices are
// copied.
func TestNewSetPinsIndependent(t *testing.T) {
	in := []Policy{
		{Pattern: "a.example.com", Pins: []pin.Pin{testPin(1), testPin(2)}},
		{Pattern: "b.example.com", Pins: []pin.Pin{testPin(3), testPin(4), testPin(5)}},
	}
	s, err := NewSet(in)
	if err != nil {
		t.Fatal(err)
	}
	in[1].Pins[0] = testPin(9)
	a, _ := s.Match("a.example.com")
	_ = append(a.Pins, testPin(7)) // must not overwrite b's first pin
	b, _ := s.Match("b.example.com")
	if b.Pins[0] != testPin(3) || len(b.Pins) != 3 || len(a.Pins) != 2 || a.Pins[1] != testPin(2) {
		t.Fatalf("pins changed: a %v, b %v", a.Pins, b.Pins)
	}
}

// TestMayBeIP: every string net.ParseIP accepts passes the pre-check.
func TestMayBeIP(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "::1", "2001:db8::1", "::ffff:192.0.2.1", "0.0.0.0", "fe80::1"} {
		if net.ParseIP(s) == nil || !mayBeIP(s) {
			t.Errorf("%q: ParseIP %v, mayBeIP %v", s, net.ParseIP(s), mayBeIP(s))
		}
	}
	for _, s := range []string{"example.com", "a1.b2", "1.2.3.4a", "x"} {
		if mayBeIP(s) {
			t.Errorf("mayBeIP(%q) = true", s)
		}
	}
}

// FuzzMayBeIP: mayBeIP never rules out a string net.ParseIP accepts.
func FuzzMayBeIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::1", "a.b", "1.2.3.4:5", "::ffff:1.2.3.4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if net.ParseIP(s) != nil && !mayBeIP(s) {
			t.Fatalf("%q is an IP but mayBeIP says no", s)
		}
	})
}
