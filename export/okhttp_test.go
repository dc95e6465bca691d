package export

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

var okhttpAdd = regexp.MustCompile(`\.add\(\s*"([^"]+)",((?:\s*"[^"]+",)+)\s*\)`)
var okhttpPinLit = regexp.MustCompile(`"([^"]+)"`)

// okhttpPinned parses generated okhttp code and returns the pins a version
// of OkHttp (its Pin.matches model) checks for host: the union over every
// matching .add() entry (CertificatePinner.findMatchingPins).
func okhttpPinned(t *testing.T, code string, matches func(pattern, host string) bool, host string) []pin.Pin {
	t.Helper()
	var out []pin.Pin
	for _, m := range okhttpAdd.FindAllStringSubmatch(code, -1) {
		if !matches(m[1], host) {
			continue
		}
		for _, l := range okhttpPinLit.FindAllStringSubmatch(m[2], -1) {
			q, err := pin.Parse(l[1])
			if err != nil {
				t.Fatalf("pin %q: %v", l[1], err)
			}
			if !pin.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out
}

// TestOkHttpVersionCoverage renders the full case for OkHttp 3 and 4 and
// asks the models of OkHttp 3.13.1's and 4.3.0's Pin.matches, for names at
// and below every policy, whether the pins pinset enforces there are
// enforced by OkHttp too. A name may be left unpinned only when a
// subdomain-depth warning names its policy; the version-4 output read by
// OkHttp 3.13.1 shows the bug the version flag fixes.
func TestOkHttpVersionCoverage(t *testing.T) {
	in := fullInput(t)
	set, err := policy.NewSet(in.Policies)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range in.Policies {
		pat, _ := policy.ParsePattern(p.Pattern, p.IncludeSubdomains)
		names = append(names, pat.Base, "a."+pat.Base, "a.b."+pat.Base)
	}
	for _, c := range []struct {
		version int
		model   func(pattern, host string) bool
		label   string
	}{
		{OkHttp3, okhttp3Matches, "--okhttp-version 3 read by OkHttp 3.13.1"},
		{OkHttp4, okhttp43Matches, "--okhttp-version 4 read by OkHttp 4.3.0"},
	} {
		in := fullInput(t)
		in.OkHttpVersion = c.version
		res, err := Export("okhttp", in)
		if err != nil {
			t.Fatal(err)
		}
		depth := map[string]bool{}
		for _, w := range res.Warnings {
			if w.Code == WarnSubdomainDepth {
				depth[w.Pattern] = true
			}
		}
		for _, m := range okhttpAdd.FindAllStringSubmatch(string(res.Data), -1) {
			if c.version == OkHttp3 && strings.HasPrefix(m[1], "**.") {
				t.Errorf("%s: the output still holds the pattern %s", c.label, m[1])
			}
		}
		for _, n := range names {
			want, ok := set.Match(n)
			if !ok || want.ReportOnly {
				continue
			}
			got := okhttpPinned(t, string(res.Data), c.model, n)
			covered := len(got) > 0
			for _, q := range want.Pins {
				covered = covered && pin.Contains(got, q)
			}
			switch {
			case covered:
			case depth[want.Pattern] && strings.Count(n, ".") >= strings.Count(strings.TrimPrefix(want.Pattern, "**."), ".")+2:
				// Two or more labels below a **. policy on OkHttp 3: said.
			default:
				t.Errorf("%s: %s: pinset enforces %s (%v), OkHttp checks %v and no warning says so", c.label, n, want.Pattern, want.Pins, got)
			}
		}
	}

	// Before --okhttp-version, the only output was version 4's: OkHttp
	// 3.13.1 leaves example.com (pinned by **.example.com) unpinned.
	res, err := Export("okhttp", fullInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := okhttpPinned(t, string(res.Data), okhttp3Matches, "example.com"); len(got) != 0 {
		t.Errorf("the model of OkHttp 3.13.1 pins example.com from a **. pattern (%v): it cannot show the bug", got)
	}
}

func TestOkHttpVersionFlag(t *testing.T) {
	in := Input{Policies: []policy.Policy{
		{Pattern: "**.example.com", Pins: []pin.Pin{fakePin("1"), fakePin("2")}},
		{Pattern: "2001:db8::1", Pins: []pin.Pin{fakePin("3"), fakePin("4")}},
	}}
	for _, v := range []int{2, 5, -1} {
		in.OkHttpVersion = v
		if _, err := Export("okhttp", in); !errors.Is(err, ErrOkHttpVersion) {
			t.Errorf("version %d: %v, want ErrOkHttpVersion", v, err)
		}
	}
	in.OkHttpVersion = OkHttp3
	res, err := Export("okhttp", in)
	if err != nil {
		t.Fatal(err)
	}
	s := string(res.Data)
	for _, want := range []string{`"example.com",`, `"*.example.com",`, `"[2001:db8::1]",`, "Needs OkHttp 3.2.0 or later", "import okhttp3.CertificatePinner"} {
		if !strings.Contains(s, want) {
			t.Errorf("version 3 output lacks %s:\n%s", want, s)
		}
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Code != WarnSubdomainDepth || !strings.Contains(res.Warnings[0].Message, "a.b.example.com) are NOT pinned") {
		t.Errorf("warnings %v", res.Warnings)
	}
	in.OkHttpVersion = 0
	res, err = Export("okhttp", in)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(res.Data); !strings.Contains(s, `"**.example.com",`) || !strings.Contains(s, `"2001:db8::1",`) || !strings.Contains(s, "Needs OkHttp 4.3.0 or later") {
		t.Errorf("default (4) output:\n%s", s)
	}
}

// TestTrustKitAndroidRefusedDomains: names TrustKit-Android's
// DomainValidator refuses would stop the app at start-up
// (DomainPinningPolicy throws ConfigurationException); they are left out
// with a warning, and the rest is written.
func TestTrustKitAndroidRefusedDomains(t *testing.T) {
	pins := []pin.Pin{fakePin("1"), fakePin("2")}
	refused := []string{"api.internal", "example.test", "localhost", "192.0.2.7", "2001:db8::1", "api.example.music"}
	var pols []policy.Policy
	for _, n := range append([]string{"api.example.com"}, refused...) {
		pols = append(pols, policy.Policy{Pattern: n, Pins: pins})
	}
	res, err := Export("trustkit-android", Input{Policies: pols})
	if err != nil {
		t.Fatal(err)
	}
	doc := parseNSC(t, res.Data)
	if len(doc.Domains) != 1 || doc.Domains[0].Domain.Name != "api.example.com" {
		t.Errorf("written domains: %+v", doc.Domains)
	}
	var got []string
	for _, w := range res.Warnings {
		if w.Code == WarnRefusedDomain && strings.Contains(w.Message, "ConfigurationException") {
			got = append(got, w.Pattern)
		}
	}
	if strings.Join(got, ",") != strings.Join(refused, ",") {
		t.Errorf("refused-domain warnings for %v, want %v (all: %v)", got, refused, res.Warnings)
	}
}
