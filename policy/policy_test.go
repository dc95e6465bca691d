package policy

import (
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
)

func TestValidate(t *testing.T) {
	two := []pin.Pin{testPin(1), testPin(2)}
	many := make([]pin.Pin, MaxPins+1)
	for i := range many {
		many[i] = testPin(i + 10)
	}
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{Pattern: "example.com"}, "at least one pin"},
		{Policy{Pattern: "example.com", Pins: many}, "more than the limit"},
		{Policy{Pattern: "example.com", Pins: []pin.Pin{testPin(1), testPin(1)}}, "listed twice"},
		{Policy{Pattern: "example.com", Pins: []pin.Pin{{}}}, "all zero bytes"},
		{Policy{Pattern: "example.com", Pins: two, ReportURI: "ftp://r.example.com/"}, "absolute http(s) URL"},
		{Policy{Pattern: "example.com", Pins: two, ReportURI: "/reports"}, "absolute http(s) URL"},
		{Policy{Pattern: "", Pins: two}, "empty host name"},
		{Policy{Pattern: strings.Repeat("a.", 130) + "com", Pins: two}, "longer than 253"},
		{Policy{Pattern: strings.Repeat("a", 64) + ".com", Pins: two}, "longer than 63"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.p.Pattern, err, tc.want)
		}
		if _, err := NewSet([]Policy{tc.p}); err == nil {
			t.Errorf("NewSet accepted %q", tc.p.Pattern)
		}
	}
	ok := Policy{Pattern: "example.com", Pins: two, ReportURI: "https://reports.example.com/v1"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is((&Policy{Pattern: "example.com"}).Validate(), ErrNoPins) {
		t.Error("ErrNoPins not wrapped")
	}
}

func TestRequireBackup(t *testing.T) {
	one := Policy{Pattern: "example.com", Pins: []pin.Pin{testPin(1)}}
	if err := one.RequireBackup(); !errors.Is(err, ErrNoBackupPin) || !one.Enforced() {
		t.Fatalf("one enforced pin: %v", err)
	}
	one.ReportOnly = true
	if err := one.RequireBackup(); err != nil || one.Enforced() {
		t.Fatalf("report-only with one pin: %v", err)
	}
	two := Policy{Pattern: "example.com", Pins: []pin.Pin{testPin(1), testPin(2)}}
	if err := two.RequireBackup(); err != nil {
		t.Fatal(err)
	}
}

func TestSetIsImmutable(t *testing.T) {
	pins := []pin.Pin{testPin(1), testPin(2)}
	s, err := NewSet([]Policy{{Pattern: "example.com", Pins: pins}})
	if err != nil {
		t.Fatal(err)
	}
	pins[0] = testPin(9)
	got := s.Policies()
	got[0].Pattern = "changed"
	p, ok := s.Match("example.com")
	if !ok || p.Pins[0] != testPin(1) || p.Pattern != "example.com" || s.Len() != 1 {
		t.Fatal("set changed through its inputs or outputs")
	}
	var nilSet *Set
	if _, ok := nilSet.Match("example.com"); ok || nilSet.Len() != 0 || nilSet.Policies() != nil {
		t.Fatal("nil set should match nothing")
	}
}

func TestPatternString(t *testing.T) {
	for in, want := range map[string]string{
		"*.Example.COM.":    "*.example.com",
		"**.bücher.example": "**.xn--bcher-kva.example",
		"[2001:DB8::1]":     "2001:db8::1",
		"api.example.com":   "api.example.com",
	} {
		p, err := ParsePattern(in, false)
		if err != nil || p.String() != want {
			t.Errorf("ParsePattern(%q).String() = %q, %v; want %q", in, p.String(), err, want)
		}
	}
}

// FuzzParsePattern: no panics, normalisation is idempotent, and a parsed
// pattern re-parses to itself from its own spelling.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com", "**.example.com", "API.Example.COM.", "bücher.example", "[::1]", "192.0.2.1", "*.com", "**.", "*", "", "a..b", "xn--", "r3---sn-abc.googlevideo.com", "::ffff:1.2.3.4", "ＡＰＩ．example．com"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, sub bool) {
		if n, err := NormalizeHost(s); err == nil {
			n2, err := NormalizeHost(n)
			if err != nil || n2 != n {
				t.Fatalf("NormalizeHost not idempotent: %q -> %q -> %q (%v)", s, n, n2, err)
			}
		}
		p, err := ParsePattern(s, sub)
		if err != nil {
			return
		}
		spelled := p.String()
		if p.Wildcard == Subdomain {
			spelled = p.Base
		}
		q, err := ParsePattern(spelled, p.Wildcard == Subdomain)
		if err != nil || q != p {
			t.Fatalf("%q parsed to %+v, whose spelling %q parses to %+v (%v)", s, p, spelled, q, err)
		}
		if _, ok := p.Reach(p.Base); !ok && p.Wildcard != OneLabel {
			t.Fatalf("%+v does not cover its own base", p)
		}
	})
}

// TestPlainASCIIMatchesIDNA checks that the ASCII fast path of NormalizeHost
// gives the same verdict and result as full UTS #46 processing.
func TestPlainASCIIMatchesIDNA(t *testing.T) {
	for _, h := range []string{
		"example.com", "API.Example.COM", "r3---sn-abc.googlevideo.com", "_dmarc.example.com",
		"-lead.example.com", "trail-.example.com", "a..b", "a.b.", "x", "EXAMPLE", "ab--cd.example",
		"a_b-c.d_e.f", "xn--zca.example", "XN--ZCA.example", "www.xn--bcher-kva.example",
	} {
		fast, plain := plainASCII(h)
		if !plain {
			continue
		}
		slow, err := idnaProfile.ToASCII(h)
		if err != nil {
			t.Errorf("%q: fast path accepts, UTS #46 refuses: %v", h, err)
			continue
		}
		if strings.ToLower(slow) != fast {
			t.Errorf("%q: fast path %q, UTS #46 %q", h, fast, slow)
		}
	}
}

func FuzzPlainASCIIMatchesIDNA(f *testing.F) {
	f.Add("Example.COM")
	f.Add("r3---sn-abc.googlevideo.com")
	f.Fuzz(func(t *testing.T, h string) {
		fast, plain := plainASCII(h)
		if !plain {
			return
		}
		slow, err := idnaProfile.ToASCII(h)
		if err == nil && strings.ToLower(slow) != fast {
			t.Fatalf("%q: fast path %q, UTS #46 %q", h, fast, slow)
		}
	})
}
