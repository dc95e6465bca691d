package export

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fakePin returns a deterministic pin for a label (not the pin of any real key).
func fakePin(label string) pin.Pin { return pin.FromSPKI([]byte("pinset export test " + label)) }

// testCase is one input rendered in every format and compared with
// testdata/golden/NAME/FORMAT(.warnings).
type testCase struct {
	name string
	in   func(t *testing.T) Input
}

func simpleInput(t *testing.T) Input {
	return Input{
		Policies: []policy.Policy{{
			Pattern: "api.example.com",
			Pins:    []pin.Pin{fakePin("api live"), fakePin("api backup")},
		}},
		Source:   "the simple test case",
		Root:     []byte(`{"payloadType":"application/vnd.pinset.root+json","payload":"e30=","signatures":[]}` + "\n"),
		Manifest: []byte(`{"payloadType":"application/vnd.pinset.manifest+json","payload":"e30=","signatures":[]}` + "\n"),
	}
}

// fullInput exercises every kind of pattern and every option, including the
// combinations platforms cannot express.
func fullInput(t *testing.T) Input {
	t.Helper()
	// A deterministic chain, so that the alamofire format can embed real keys.
	rnd := pki.NewDeterministicRand("export full case")
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	h, err := pki.NewHierarchy(pki.Template{Rand: rnd, Now: now}, "api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	pos := NewPositions()
	pos.AddChain(h.Leaf.Chain)
	leaf, inter := h.Leaf.Pin(), h.Intermediate.Pin()
	ca1, ca2 := fakePin("cdn ca 1"), fakePin("cdn ca 2")
	pos.Set(ca1, CA)
	pos.Set(ca2, CA)
	return Input{
		Policies: []policy.Policy{
			{Pattern: "api.example.com", Pins: []pin.Pin{leaf, fakePin("api backup")}, ReportURI: "https://reports.example.com/v1/reports"},
			{Pattern: "login.example.com", Pins: []pin.Pin{leaf, inter}},
			{Pattern: "**.cdn.example.com", Pins: []pin.Pin{ca1, ca2}},
			{Pattern: "*.users.example.com", Pins: []pin.Pin{fakePin("users 1"), fakePin("users 2")}},
			{Pattern: "users.example.com", Pins: []pin.Pin{fakePin("users apex 1"), fakePin("users apex 2")}},
			{Pattern: "*.shop.example.com", Pins: []pin.Pin{fakePin("shop 1"), fakePin("shop 2")}},
			{Pattern: "static.example.com", IncludeSubdomains: true, Pins: []pin.Pin{fakePin("static 1"), fakePin("static 2")}},
			{Pattern: "beta.example.com", ReportOnly: true, Pins: []pin.Pin{fakePin("beta trial")}, ReportURI: "https://reports.example.com/v1/reports"},
			{Pattern: "**.example.com", Pins: []pin.Pin{fakePin("apex 1"), fakePin("apex 2")}},
			{Pattern: "192.0.2.7", Pins: []pin.Pin{fakePin("ip 1"), fakePin("ip 2")}},
		},
		Positions:    pos,
		TrustAnchors: []TrustAnchor{{Src: "system"}, {Src: "@raw/backend_ca"}, {Src: "user", OverridePins: true}},
		Expiration:   time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		HPKPMaxAge:   30 * 24 * time.Hour,
		GoPackage:    "bundled",
		Source:       "the full test case",
		Root:         []byte("{\"root\":\"bytes with \\\"quotes\\\", a tab\\t, UTF-8 \u00e9 and a back`tick\"}\n"),
		Manifest:     bytes.Repeat([]byte("manifest bytes 0123456789 "), 20),
	}
}

var cases = []testCase{{"simple", simpleInput}, {"full", fullInput}}

// ext is the golden file extension of each format.
var ext = map[string]string{
	"android-nsc": "xml", "trustkit-android": "xml", "trustkit-ios": "plist", "ios-ats": "plist",
	"okhttp": "kt", "alamofire": "swift", "hpkp": "txt", "curl": "sh", "go": "go.txt",
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		for _, f := range Formats() {
			t.Run(c.name+"/"+f.Name, func(t *testing.T) {
				in := c.in(t)
				res, err := Export(f.Name, in)
				if err != nil {
					t.Fatal(err)
				}
				var w strings.Builder
				for _, wn := range res.Warnings {
					fmt.Fprintf(&w, "%s\t%s\n", wn.Code, wn)
				}
				dir := filepath.Join("testdata", "golden", c.name)
				compareGolden(t, filepath.Join(dir, f.Name+"."+ext[f.Name]), res.Data)
				compareGolden(t, filepath.Join(dir, f.Name+".warnings"), []byte(w.String()))
				checkPins(t, f.Name, in, res.Data)
			})
		}
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./export -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test ./export -update after checking the change):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// checkPins parses the output of a format, independently of how it was
// written, and checks that every pin in it re-parses with pin.Parse to the
// bytes of a pin of the policy the host belongs to, and that every exported
// host carries exactly its policy's pins.
func checkPins(t *testing.T, format string, in Input, data []byte) {
	t.Helper()
	set, err := policy.NewSet(in.Policies)
	if err != nil {
		t.Fatal(err)
	}
	byPattern := map[string][]pin.Pin{}
	for _, p := range in.Policies {
		byPattern[p.Pattern] = p.Pins
	}
	// hostPins checks the pins written for one platform host name: they
	// must be, as a set, the pins of a policy whose pattern has that base.
	hostPins := func(host string, written []string) {
		t.Helper()
		var got []pin.Pin
		for _, s := range written {
			q, err := pin.Parse(s)
			if err != nil {
				t.Errorf("%s: host %s: written pin %q does not parse: %v", format, host, s, err)
				continue
			}
			got = append(got, q)
		}
		for _, p := range in.Policies {
			pat, _ := policy.ParsePattern(p.Pattern, p.IncludeSubdomains)
			if pat.Base == host && sameSet(p.Pins, got) {
				return
			}
		}
		t.Errorf("%s: host %s: pins %v are not the pins of any policy for that name", format, host, got)
	}
	switch format {
	case "android-nsc", "trustkit-android":
		doc := parseNSC(t, data)
		if len(doc.Domains) == 0 && hasEnforcedExact(in, format == "trustkit-android") {
			t.Fatalf("%s: no domain-config", format)
		}
		for _, d := range doc.Domains {
			if d.Cleartext != "false" {
				t.Errorf("%s: %s: cleartextTrafficPermitted=%q", format, d.Domain.Name, d.Cleartext)
			}
			wantAnchors := []string{"system"}
			if len(in.TrustAnchors) > 0 {
				wantAnchors = nil
				for _, a := range in.TrustAnchors {
					wantAnchors = append(wantAnchors, a.Src)
				}
			}
			if !slices.Equal(d.Anchors, wantAnchors) {
				t.Errorf("%s: %s: trust anchors %v, want %v", format, d.Domain.Name, d.Anchors, wantAnchors)
			}
			if want := in.Expiration; !want.IsZero() && d.PinSet.Expiration != expiryAndroid.dateFor(want).Format("2006-01-02") {
				t.Errorf("%s: %s: expiration %q", format, d.Domain.Name, d.PinSet.Expiration)
			}
			for _, p := range d.PinSet.Pins {
				if p.Digest != "SHA-256" {
					t.Errorf("%s: digest %q", format, p.Digest)
				}
			}
			var pins []string
			for _, p := range d.PinSet.Pins {
				pins = append(pins, p.Value)
			}
			hostPins(d.Domain.Name, pins)
			if format == "trustkit-android" && d.TrustKit == nil {
				t.Errorf("%s: %s: no trustkit-config", format, d.Domain.Name)
			}
		}
	case "trustkit-ios":
		var v struct {
			TSKConfiguration struct {
				SwizzleNetworkDelegates *bool                     `plist:"TSKSwizzleNetworkDelegates"`
				PinnedDomains           map[string]map[string]any `plist:"TSKPinnedDomains"`
			}
		}
		decodePlist(t, data, &v)
		if v.TSKConfiguration.SwizzleNetworkDelegates == nil {
			t.Errorf("TSKSwizzleNetworkDelegates missing")
		}
		for host, d := range v.TSKConfiguration.PinnedDomains {
			var pins []string
			for _, s := range d["TSKPublicKeyHashes"].([]any) {
				pins = append(pins, s.(string))
			}
			hostPins(host, pins)
			if pol, ok := set.Match(host); ok && pol.ReportOnly == d["TSKEnforcePinning"].(bool) {
				t.Errorf("trustkit-ios: %s: TSKEnforcePinning=%v for report-only=%v", host, d["TSKEnforcePinning"], pol.ReportOnly)
			}
			if d["TSKDisableDefaultReportUri"] != true {
				t.Errorf("trustkit-ios: %s: reports also go to TrustKit's default URI", host)
			}
			if e := in.Expiration; !e.IsZero() && d["TSKExpirationDate"] != expiryTrustKitIOS.dateFor(e).Format("2006-01-02") {
				t.Errorf("trustkit-ios: %s: TSKExpirationDate %v", host, d["TSKExpirationDate"])
			}
		}
	case "ios-ats":
		var v struct {
			NSAppTransportSecurity struct {
				NSPinnedDomains map[string]struct {
					NSIncludesSubdomains   bool
					NSPinnedLeafIdentities []map[string]string
					NSPinnedCAIdentities   []map[string]string
				}
			}
		}
		decodePlist(t, data, &v)
		for host, d := range v.NSAppTransportSecurity.NSPinnedDomains {
			var pins []string
			for _, l := range append(d.NSPinnedLeafIdentities, d.NSPinnedCAIdentities...) {
				if len(l) != 1 || l[atsPinKey] == "" {
					t.Errorf("ios-ats: %s: identity %v", host, l)
				}
				pins = append(pins, l[atsPinKey])
			}
			hostPins(host, pins)
			for _, l := range d.NSPinnedCAIdentities {
				if in.Positions.Of(pin.MustParse(l[atsPinKey])) == Leaf {
					t.Errorf("ios-ats: %s: leaf pin %s under CA identities", host, l[atsPinKey])
				}
			}
			for _, l := range d.NSPinnedLeafIdentities {
				if in.Positions.Of(pin.MustParse(l[atsPinKey])) == CA {
					t.Errorf("ios-ats: %s: CA pin %s under leaf identities", host, l[atsPinKey])
				}
			}
		}
	case "okhttp":
		re := regexp.MustCompile(`(?s)\.add\(\s*"([^"]+)",(.*?)\)`)
		m := re.FindAllSubmatch(data, -1)
		if len(m) == 0 && hasEnforcedExact(in, false) {
			t.Fatal("okhttp: no .add(...) calls")
		}
		for _, a := range m {
			pat, err := policy.ParsePattern(string(a[1]), false)
			if err != nil {
				t.Errorf("okhttp: pattern %q: %v", a[1], err)
				continue
			}
			var pins []string
			for _, m := range regexp.MustCompile(`"(sha256/[^"]+)"`).FindAllStringSubmatch(string(a[2]), -1) {
				pins = append(pins, m[1])
			}
			hostPins(pat.Base, pins)
		}
	case "alamofire":
		re := regexp.MustCompile(`(?s)"([^"]+)": PublicKeysTrustEvaluator\((.*?)performDefaultValidation`)
		m := re.FindAllSubmatch(data, -1)
		if len(m) == 0 && hasEnforcedExact(in, false) {
			t.Fatal("alamofire: no evaluators")
		}
		for _, a := range m {
			hostPins(string(a[1]), regexp.MustCompile(`sha256/[A-Za-z0-9+/=]+`).FindAllString(string(a[2]), -1))
		}
	case "hpkp":
		re := regexp.MustCompile(`(?m)^# (\S+).*\nPublic-Key-Pins-Report-Only: (.*)$`)
		m := re.FindAllSubmatch(data, -1)
		if len(m) != len(in.Policies) {
			t.Fatalf("hpkp: %d headers for %d policies", len(m), len(in.Policies))
		}
		for _, a := range m {
			var pins []string
			for _, d := range strings.Split(string(a[2]), "; ") {
				if strings.HasPrefix(d, "pin-sha256=") {
					pins = append(pins, d)
				}
			}
			host := string(a[1])
			if host == "every" { // "every host one label below X"
				host = strings.Fields(string(a[0]))[6]
			}
			hostPins(host, pins)
		}
	case "curl":
		// curl compares only the leaf's key: every written hash is a pin of
		// the host's policy that is not known as a CA key.
		re := regexp.MustCompile(`(?m)^# (.+)\n--pinnedpubkey '([^']+)'$`)
		for _, a := range re.FindAllSubmatch(data, -1) {
			who := strings.Fields(string(a[1]))
			host := who[0]
			if host == "every" { // "every host one label below X"
				host = who[len(who)-1]
			}
			var got []pin.Pin
			for _, h := range strings.Split(string(a[2]), ";") {
				b64, ok := strings.CutPrefix(h, "sha256//")
				q, err := pin.Parse(b64)
				if !ok || err != nil {
					t.Errorf("curl: %s: hash %q: %v", host, h, err)
					continue
				}
				if in.Positions.Of(q) == CA {
					t.Errorf("curl: %s: CA pin %s written; curl compares only the leaf's key", host, q)
				}
				got = append(got, q)
			}
			found := false
			for _, p := range in.Policies {
				pat, _ := policy.ParsePattern(p.Pattern, p.IncludeSubdomains)
				all := true
				for _, q := range got {
					all = all && pin.Contains(p.Pins, q)
				}
				found = found || pat.Base == host && all && !p.ReportOnly
			}
			if !found || len(got) == 0 {
				t.Errorf("curl: %s: hashes %v are not pins of an enforced policy for that name", host, got)
			}
		}
	case "go":
		root, manifest := goConstants(t, data)
		if root != string(in.Root) || manifest != string(in.Manifest) {
			t.Errorf("go: embedded bytes differ from the input")
		}
	default:
		t.Fatalf("no pin check for format %s", format)
	}
}

// hasEnforcedExact reports whether some policy is an enforced exact host,
// which every format except hpkp writes as it is.
// hasEnforcedExact reports whether some enforced policy names one host
// (not an IP literal, and, for TrustKit-Android, a name its DomainValidator
// accepts), which every domain-keyed format must write.
func hasEnforcedExact(in Input, trustKitAndroid bool) bool {
	for _, p := range in.Policies {
		if pat, err := policy.ParsePattern(p.Pattern, p.IncludeSubdomains); err == nil && pat.Wildcard == policy.Exact && !p.ReportOnly && !pat.IP &&
			!(trustKitAndroid && trustKitAndroidRefuses(pat.Base) != "") {
			return true
		}
	}
	return false
}

func sameSet(a, b []pin.Pin) bool {
	if len(a) != len(b) {
		return false
	}
	for _, q := range b {
		if !pin.Contains(a, q) {
			return false
		}
	}
	return true
}

type nscDoc struct {
	XMLName xml.Name    `xml:"network-security-config"`
	Domains []nscDomain `xml:"domain-config"`
}

type nscDomain struct {
	Cleartext string `xml:"cleartextTrafficPermitted,attr"`
	Domain    struct {
		Include string `xml:"includeSubdomains,attr"`
		Name    string `xml:",chardata"`
	} `xml:"domain"`
	Anchors []string `xml:"-"` // filled by fixAnchors
	PinSet  struct {
		Expiration string `xml:"expiration,attr"`
		Pins       []struct {
			Digest string `xml:"digest,attr"`
			Value  string `xml:",chardata"`
		} `xml:"pin"`
	} `xml:"pin-set"`
	TrustKit *struct {
		Enforce    string   `xml:"enforcePinning,attr"`
		NoDefault  string   `xml:"disableDefaultReportUri,attr"`
		ReportURIs []string `xml:"report-uri"`
	} `xml:"trustkit-config"`
}

// parseNSC parses a Network Security Config strictly with encoding/xml.
func parseNSC(t *testing.T, data []byte) nscDoc {
	t.Helper()
	var doc nscDoc
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("XML does not parse: %v", err)
	}
	// Every token must be well formed, to the end of the input.
	dec = xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("XML token stream: %v", err)
			}
			break
		}
	}
	// encoding/xml cannot read attributes of repeated nested elements into
	// a flat list; read trust anchors again by hand.
	return fixAnchors(t, doc, data)
}

func fixAnchors(t *testing.T, doc nscDoc, data []byte) nscDoc {
	var raw struct {
		Domains []struct {
			Anchors []struct {
				Src string `xml:"src,attr"`
			} `xml:"trust-anchors>certificates"`
		} `xml:"domain-config"`
	}
	if err := xml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for i := range doc.Domains {
		doc.Domains[i].Anchors = nil
		for _, a := range raw.Domains[i].Anchors {
			doc.Domains[i].Anchors = append(doc.Domains[i].Anchors, a.Src)
		}
	}
	return doc
}

// decodePlist parses a property list with howett.net/plist and, when
// available, checks it with plistutil (libplist) too.
func decodePlist(t *testing.T, data []byte, v any) {
	t.Helper()
	format, err := plist.Unmarshal(data, v)
	if err != nil {
		t.Fatalf("plist does not parse: %v", err)
	}
	if format != plist.XMLFormat {
		t.Errorf("plist format %d, want XML", format)
	}
}

func TestWarnings(t *testing.T) {
	codes := func(res *Result) map[string][]string {
		m := map[string][]string{}
		for _, w := range res.Warnings {
			m[w.Code] = append(m[w.Code], w.Pattern)
		}
		return m
	}
	in := fullInput(t)
	want := map[string]map[string][]string{
		"android-nsc": {
			WarnOneLabelWildcard: {"*.shop.example.com"},
			WarnDuplicateDomain:  {"*.users.example.com"},
			WarnReportOnly:       {"beta.example.com"},
			WarnReportURI:        {"api.example.com"},
			WarnTrustAnchors:     {""},
		},
		"trustkit-android": {
			WarnOneLabelWildcard: {"*.shop.example.com"},
			WarnDuplicateDomain:  {"*.users.example.com"},
			WarnReportOnly:       {"beta.example.com"},
			WarnRefusedDomain:    {"192.0.2.7"},
			WarnTrustAnchors:     {""},
		},
		"trustkit-ios": {
			WarnOneLabelWildcard: {"*.shop.example.com"},
			WarnDuplicateDomain:  {"*.users.example.com"},
			WarnRefusedDomain:    {"192.0.2.7"},
		},
		"ios-ats": {
			WarnOneLabelWildcard: {"*.shop.example.com"},
			WarnDuplicateDomain:  {"*.users.example.com"},
			WarnReportOnly:       {"beta.example.com"},
			WarnReportURI:        {"api.example.com"},
			WarnNoExpiration:     {""},
			WarnSubdomainDepth:   {"**.cdn.example.com", "static.example.com", "**.example.com"},
			WarnPosition:         {"api.example.com", "login.example.com", "*.shop.example.com", "users.example.com", "static.example.com", "**.example.com", "192.0.2.7"},
			WarnIPLiteral:        {"192.0.2.7"},
		},
		"curl": {
			WarnReportOnly:   {"beta.example.com"},
			WarnReportURI:    {"api.example.com"},
			WarnNoExpiration: {""},
			WarnPosition:     {"login.example.com", "**.cdn.example.com"},
		},
		"okhttp": {
			WarnReportOnly:   {"beta.example.com"},
			WarnReportURI:    {"api.example.com"},
			WarnNoExpiration: {""},
			WarnAnyMatch:     {"api.example.com", "login.example.com", "**.cdn.example.com", "*.users.example.com", "users.example.com", "*.shop.example.com", "static.example.com"},
		},
		"alamofire": {
			WarnSubdomains:   {"*.users.example.com", "*.shop.example.com", "**.cdn.example.com", "static.example.com", "**.example.com"},
			WarnReportOnly:   {"beta.example.com"},
			WarnReportURI:    {"api.example.com"},
			WarnNoExpiration: {""},
			WarnBundledKeys:  {""},
		},
		"hpkp": {
			WarnObsolete:         {""},
			WarnNoExpiration:     {""},
			WarnEnforcedAsReport: {"api.example.com", "login.example.com", "**.cdn.example.com", "*.users.example.com", "users.example.com", "*.shop.example.com", "static.example.com", "**.example.com", "192.0.2.7"},
			WarnNoReportURI:      {"login.example.com", "**.cdn.example.com", "*.users.example.com", "users.example.com", "*.shop.example.com", "static.example.com", "**.example.com", "192.0.2.7"},
			WarnOneLabelWildcard: {"*.users.example.com", "*.shop.example.com"},
			WarnIPLiteral:        {"192.0.2.7"},
		},
		"go": {WarnNoExpiration: {""}},
	}
	for format, w := range want {
		res, err := Export(format, in)
		if err != nil {
			t.Fatal(err)
		}
		got := codes(res)
		for code := range got {
			sort.Strings(got[code])
		}
		for code := range w {
			sort.Strings(w[code])
		}
		for code, pats := range w {
			if !slices.Equal(got[code], pats) {
				t.Errorf("%s: warning %s for %q, want %q", format, code, got[code], pats)
			}
		}
		for code := range got {
			if _, ok := w[code]; !ok {
				t.Errorf("%s: unexpected warning %s for %q", format, code, got[code])
			}
		}
	}
	// The simple case is expressible everywhere but in HPKP (obsolete,
	// enforced, no report URI) and Alamofire (no key seen), once ATS knows
	// where the pins sit.
	for _, f := range Formats() {
		in := simpleInput(t)
		in.Positions = NewPositions()
		for _, q := range in.Policies[0].Pins {
			in.Positions.Set(q, Leaf)
		}
		res, err := Export(f.Name, in)
		if err != nil {
			t.Fatal(err)
		}
		switch f.Name {
		case "hpkp", "alamofire", "curl", "android-nsc", "trustkit-android":
		default:
			if len(res.Warnings) != 0 {
				t.Errorf("%s: simple case warns: %v", f.Name, res.Warnings)
			}
		}
	}
}

// TestWarningMessages checks that the sentences say what changes, with the
// names involved.
func TestWarningMessages(t *testing.T) {
	in := fullInput(t)
	find := func(format, code, pattern string) string {
		t.Helper()
		res, err := Export(format, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range res.Warnings {
			if w.Code == code && w.Pattern == pattern {
				return w.Message
			}
		}
		t.Fatalf("%s: no %s warning for %s", format, code, pattern)
		return ""
	}
	for _, c := range []struct{ format, code, pattern, want string }{
		{"android-nsc", WarnOneLabelWildcard, "*.shop.example.com", "shop.example.com itself and deeper names (a.b.shop.example.com) are pinned"},
		{"ios-ats", WarnOneLabelWildcard, "*.shop.example.com", "shop.example.com itself is pinned"},
		{"android-nsc", WarnDuplicateDomain, "*.users.example.com", "names below users.example.com (such as a.users.example.com) follow the pins of **.example.com"},
		{"android-nsc", WarnReportOnly, "beta.example.com", "**.example.com, an enforced policy, covers beta.example.com there instead, so its pins ARE enforced"},
		{"okhttp", WarnReportOnly, "beta.example.com", "**.example.com, enforced, also match beta.example.com"},
		{"okhttp", WarnAnyMatch, "api.example.com", "api.example.com is matched by both api.example.com and **.example.com: OkHttp accepts any pin of either"},
		{"ios-ats", WarnSubdomainDepth, "**.cdn.example.com", "deeper names (a.b.cdn.example.com) are NOT pinned on iOS"},
		{"ios-ats", WarnPosition, "api.example.com", "written as leaf identities"},
		{"ios-ats", WarnPosition, "login.example.com", "iOS requires a leaf pin AND a CA pin to match"},
		{"ios-ats", WarnNoExpiration, "", "the pins stay enforced after 2027-06-30"},
		{"alamofire", WarnSubdomains, "*.users.example.com", "names one label below users.example.com are NOT pinned"},
		{"trustkit-android", WarnReportOnly, "beta.example.com", "regardless of enforcePinning=\"false\""},
	} {
		if got := find(c.format, c.code, c.pattern); !strings.Contains(got, c.want) {
			t.Errorf("%s %s %s:\n got %q\nwant it to contain %q", c.format, c.code, c.pattern, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	two := []pin.Pin{fakePin("1"), fakePin("2")}
	for _, c := range []struct {
		name   string
		format string
		in     Input
		want   string
	}{
		{"unknown format", "xml", simpleInput(t), "unknown export format"},
		{"no policies", "okhttp", Input{}, "no host policies"},
		{"one pin enforced", "okhttp", Input{Policies: []policy.Policy{{Pattern: "a.example.com", Pins: two[:1]}}}, "backup"},
		{"public suffix", "okhttp", Input{Policies: []policy.Policy{{Pattern: "*.co.uk", Pins: two}}}, "public suffix"},
		{"duplicate reach", "okhttp", Input{Policies: []policy.Policy{{Pattern: "**.example.com", Pins: two}, {Pattern: "example.com", IncludeSubdomains: true, Pins: two}}}, "duplicates"},
		{"go without root", "go", Input{Policies: simpleInput(t).Policies}, "root and manifest"},
		{"go bad package", "go", func() Input { in := simpleInput(t); in.GoPackage = "func"; return in }(), "not a Go identifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Export(c.format, c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := Export("nope", simpleInput(t)); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format error %v is not ErrUnknownFormat", err)
	}
	if _, err := Export("go", Input{Policies: simpleInput(t).Policies}); !errors.Is(err, ErrNeedsSigned) {
		t.Errorf("go error %v is not ErrNeedsSigned", err)
	}
}

func TestNormalisation(t *testing.T) {
	// Hosts go through package policy: case, trailing dot and IDNs.
	in := Input{Policies: []policy.Policy{{Pattern: "BÜCHER.Example.COM.", Pins: []pin.Pin{fakePin("1"), fakePin("2")}}}}
	for _, f := range []string{"android-nsc", "okhttp", "trustkit-ios", "ios-ats", "alamofire", "hpkp"} {
		res, err := Export(f, in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(res.Data, []byte("xn--bcher-kva.example.com")) || bytes.Contains(res.Data, []byte("Example")) {
			t.Errorf("%s: host not written in normalised A-label form:\n%s", f, res.Data)
		}
	}
}

func TestSelect(t *testing.T) {
	two := []pin.Pin{fakePin("1"), fakePin("2")}
	pols := []policy.Policy{
		{Pattern: "api.example.com", Pins: two},
		{Pattern: "**.example.com", Pins: two},
		{Pattern: "*.cdn.example.com", Pins: two},
		{Pattern: "static.example.com", IncludeSubdomains: true, Pins: two},
	}
	for _, c := range []struct {
		sel  []string
		want []string
	}{
		{nil, []string{"api.example.com", "**.example.com", "*.cdn.example.com", "static.example.com"}},
		{[]string{"API.Example.com."}, []string{"api.example.com"}},
		{[]string{"www.example.com"}, []string{"**.example.com"}},           // a host: the policy that applies to it
		{[]string{"a.cdn.example.com"}, []string{"*.cdn.example.com"}},      // most specific wins
		{[]string{"**.static.example.com"}, []string{"static.example.com"}}, // same reach
		{[]string{"*.cdn.example.com", "api.example.com"}, []string{"api.example.com", "*.cdn.example.com"}},
	} {
		got, err := Select(pols, c.sel)
		if err != nil {
			t.Fatalf("%v: %v", c.sel, err)
		}
		var names []string
		for _, p := range got {
			names = append(names, p.Pattern)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("Select(%v) = %v, want %v", c.sel, names, c.want)
		}
	}
	if _, err := Select(pols, []string{"example.org"}); !errors.Is(err, ErrNoMatch) {
		t.Errorf("unmatched selector: %v", err)
	}
	if _, err := Select(pols, []string{"*.example.com"}); !errors.Is(err, ErrNoMatch) {
		t.Errorf("a wildcard that is not a policy's pattern selected something: %v", err)
	}
}

func TestPositionsFromItems(t *testing.T) {
	rnd := pki.NewDeterministicRand("positions")
	h, err := pki.NewHierarchy(pki.Template{Rand: rnd, Now: func() time.Time { return time.Unix(1.8e9, 0) }}, "a.example.com")
	if err != nil {
		t.Fatal(err)
	}
	chainPEM := pki.CertPEM(h.Leaf.Chain...)
	items, err := pin.ParseItems(chainPEM, "chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	pos := NewPositions()
	pos.AddItems(items)
	if pos.Of(h.Leaf.Pin()) != Leaf || pos.Of(h.Intermediate.Pin()) != CA || pos.Of(h.Root.Pin()) != CA {
		t.Errorf("positions: leaf %v, intermediate %v, root %v", pos.Of(h.Leaf.Pin()), pos.Of(h.Intermediate.Pin()), pos.Of(h.Root.Pin()))
	}
	// A lone CA certificate is a CA; a lone leaf is a leaf.
	for _, c := range []struct {
		pem  []byte
		pin  pin.Pin
		want Position
	}{{h.Intermediate.CertPEM(), h.Intermediate.Pin(), CA}, {pki.CertPEM(h.Leaf.Cert), h.Leaf.Pin(), Leaf}} {
		items, err := pin.ParseItems(c.pem, "one.pem")
		if err != nil {
			t.Fatal(err)
		}
		p := NewPositions()
		p.AddItems(items)
		if p.Of(c.pin) != c.want {
			t.Errorf("lone certificate (%s): %v, want %v", items[0].Kind, p.Of(c.pin), c.want)
		}
	}
	if _, ok := pos.Key(h.Leaf.Pin()); !ok {
		t.Error("the leaf's key was not recorded")
	}
	if pos.Of(fakePin("never seen")) != Unknown {
		t.Error("an unseen pin has a position")
	}
}

func TestTrustKitRefuses(t *testing.T) {
	for name, refused := range map[string]bool{
		"api.example.com": false, "a.b.example.co.uk": false, "192.0.2.7": true, "2001:db8::1": true,
		"api.example.test": true, "host.internal": true,
	} {
		if got := trustKitRefuses(name) != ""; got != refused {
			t.Errorf("trustKitRefuses(%q) = %q, want refused=%v", name, trustKitRefuses(name), refused)
		}
	}
	in := Input{Policies: []policy.Policy{
		{Pattern: "api.example.test", Pins: []pin.Pin{fakePin("1"), fakePin("2")}},
		{Pattern: "api.example.com", Pins: []pin.Pin{fakePin("1"), fakePin("2")}},
	}}
	res, err := Export("trustkit-ios", in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(res.Data, []byte("example.test")) || !bytes.Contains(res.Data, []byte("api.example.com")) {
		t.Errorf("a name TrustKit refuses was written:\n%s", res.Data)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Code != WarnRefusedDomain || !strings.Contains(res.Warnings[0].Message, ".test is not in the Public Suffix List") {
		t.Errorf("warnings: %v", res.Warnings)
	}
}
