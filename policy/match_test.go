package policy

import (
	"crypto/x509"
	"strings"
	"testing"
	"unicode/utf8"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

// TestMatchUnnormalisable: a host NormalizeHost refuses is matched in its
// folded form against name patterns (never IP literals), so it is not left
// unpinned under a policy whose names it falls under.
func TestMatchUnnormalisable(t *testing.T) {
	pol := func(pattern string, sub bool) Policy {
		return Policy{Pattern: pattern, Pins: []pin.Pin{testPin(1), testPin(2)}, IncludeSubdomains: sub}
	}
	set, err := NewSet([]Policy{
		pol("**.example.com", false),
		pol("*.eu.example.com", false),
		pol("api.example.com", false),
		pol("shop.example.org", true),
		pol("**.bücher.example", false),
		pol("192.0.2.7", false),
	})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ host, want string }{
		{"xn--zz.example.com", "**.example.com"},
		{"xn--a.example.com", "**.example.com"},
		{long + ".example.com", "**.example.com"},
		{"XN--ZZ.EU.Example.COM.", "*.eu.example.com"},
		{"a.xn--zz.eu.example.com", "**.example.com"},
		{"xn--zz.shop.example.org", "shop.example.org"},
		{long + ".shop.example.org", "shop.example.org"},
		{"[xn--zz.example.com]", "**.example.com"},
		{"API.example.com..", "api.example.com"},                      // two trailing dots
		{"*.example.com", "**.example.com"},                           // crypto/x509 matches it exactly against a SAN "*.example.com"
		{strings.Repeat("a.", 130) + "example.com", "**.example.com"}, // longer than 253 bytes
		{"xn--zz.example.org", ""},
		{"xn--zz.example.com:443", ""},
		{"xn--zz.192.0.2.7", ""}, // never an IP policy
		// Not ASCII: crypto/x509 matches such a name with no certificate
		// (certificate names are ASCII), so no pin is needed.
		{"xn--zz.bücher.example", ""},
		{"", ""},
		{" . ", ""},
	} {
		if _, err := NormalizeHost(tc.host); err == nil {
			t.Errorf("%q: NormalizeHost accepts it; this table is for names it refuses", tc.host)
		}
		got, ok := set.Match(tc.host)
		if ok != (tc.want != "") || got.Pattern != tc.want {
			t.Errorf("Match(%q) = %q, %v; want %q", tc.host, got.Pattern, ok, tc.want)
		}
	}
}

// FuzzFoldHost: for an ASCII name that NormalizeHost accepts (not an IP
// literal), the folded form is the normalised form, so Match compares a
// name the same way whichever of the two reads it.
func FuzzFoldHost(f *testing.F) {
	for _, s := range []string{"Example.COM.", "[a.B]", "XN--BCHER-KVA.example", "xn--zz.example.com", " api.example.com ", "r3---sn-abc.googlevideo.com", "a..b", "[a.b.]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return
			}
		}
		n, err := NormalizeHost(s)
		if err != nil || mayBeIP(n) {
			return
		}
		if got := FoldHost(s); got != n {
			t.Fatalf("NormalizeHost(%q) = %q but FoldHost = %q", s, n, got)
		}
	})
}

// x509Cert is a leaf for *.example.com and example.com: the names a
// **.example.com policy is written for.
var x509Cert = func() *x509.Certificate {
	l := pki.Must(pki.NewSelfSigned(pki.Template{Hosts: []string{"*.example.com", "example.com"}, Rand: pki.NewDeterministicRand("fold")}))
	return l.Cert
}()

// FuzzMatchCoversX509: every host name that crypto/x509 verifies against a
// certificate for *.example.com and example.com is covered by a
// **.example.com policy, and by the pair *.example.com and example.com,
// whether NormalizeHost reads the name or not. A name it verifies but no
// policy covers would connect unpinned.
func FuzzMatchCoversX509(f *testing.F) {
	for _, s := range []string{"a.example.com", "xn--zz.example.com", "XN--A.Example.COM.", strings.Repeat("a", 64) + ".example.com", "*.example.com", "example.com.", "a b.example.com", "_x.example.com", "-a.example.com", "a.example.com..", "[a.example.com]"} {
		f.Add(s)
	}
	pol := func(pattern string) Policy { return Policy{Pattern: pattern, Pins: []pin.Pin{testPin(1), testPin(2)}} }
	anyDepth, err := NewSet([]Policy{pol("**.example.com"), pol("192.0.2.7")})
	if err != nil {
		f.Fatal(err)
	}
	pair, err := NewSet([]Policy{pol("*.example.com"), pol("example.com")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if x509Cert.VerifyHostname(host) != nil {
			return
		}
		if _, ok := anyDepth.Match(host); !ok {
			t.Fatalf("crypto/x509 verifies %q for *.example.com, but **.example.com does not cover it", host)
		}
		if _, ok := pair.Match(host); !ok {
			t.Fatalf("crypto/x509 verifies %q for *.example.com, but neither *.example.com nor example.com covers it", host)
		}
	})
}
