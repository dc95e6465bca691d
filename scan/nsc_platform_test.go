package scan

import (
	"strings"
	"testing"

	"pinset.dev/pinset/scan/android"
)

// Each refusal of AOSP's XmlConfigSource
// (frameworks/base/core/java/android/security/net/config/XmlConfigSource.java,
// aosp-mirror/platform_frameworks_base 0172a23) is a high AND-NSC-INVALID
// finding: Android throws while parsing, and the app fails at start.
func TestNSCRefusals(t *testing.T) {
	const (
		pin  = `<pin digest="SHA-256">` + pinA + `</pin>`
		head = `<network-security-config>`
		tail = `</network-security-config>`
	)
	dc := func(inner string) string { return `<domain-config>` + inner + `</domain-config>` }
	for _, tc := range []struct {
		rule    string // XmlConfigSource method: condition
		xml     string
		element string // where the finding points
		reason  string // in the message
	}{
		{"parseNetworkSecurityConfig: seenBaseConfig (\"Only one base-config allowed\")",
			head + `<base-config/><base-config/>` + tail, "network-security-config/base-config[2]", "only one <base-config>"},
		{"parseNetworkSecurityConfig: seenDebugOverrides (\"Only one debug-overrides allowed\"), in every build",
			head + `<debug-overrides/><debug-overrides/>` + tail, "network-security-config/debug-overrides[2]", "only one <debug-overrides>"},
		{"parseConfigEntry: domain in CONFIG_BASE (\"domain element not allowed in base-config\")",
			head + `<base-config><domain>a.example.com</domain></base-config>` + tail, "network-security-config/base-config/domain", "<domain> is not allowed in <base-config>"},
		{"parseConfigEntry: pin-set in CONFIG_BASE (\"pin-set element not allowed in base-config\")",
			head + `<base-config><pin-set>` + pin + `</pin-set></base-config>` + tail, "network-security-config/base-config/pin-set", "<pin-set> is not allowed in <base-config>"},
		{"parseConfigEntry: domain-config in CONFIG_BASE (\"Nested domain-config not allowed in base-config\")",
			head + `<base-config>` + dc(`<domain>a.example.com</domain>`) + `</base-config>` + tail, "network-security-config/base-config/domain-config", "nested <domain-config> is not allowed in <base-config>"},
		{"parseConfigEntry: seenTrustAnchors (\"Multiple trust-anchor elements not allowed\")",
			head + `<base-config><trust-anchors/><trust-anchors/></base-config>` + tail, "network-security-config/base-config/trust-anchors[2]", "more than one <trust-anchors>"},
		{"parseConfigEntry: seenPinSet (\"Multiple pin-set elements not allowed\")",
			head + dc(`<domain>a.example.com</domain><pin-set>`+pin+`</pin-set><pin-set>`+pin+`</pin-set>`) + tail, "network-security-config/domain-config/pin-set[2]", "more than one <pin-set>"},
		{"parseConfigEntry: CONFIG_DOMAIN && domains.isEmpty() (\"No domain elements in domain-config\")",
			head + dc(`<pin-set>`+pin+`</pin-set>`) + tail, "network-security-config/domain-config", "<domain-config> without a <domain>"},
		{"parseConfigEntry: a nested domain-config is CONFIG_DOMAIN too, and needs its own domain",
			head + dc(`<domain>a.example.com</domain>`+dc(``)) + tail, "network-security-config/domain-config/domain-config", "<domain-config> without a <domain>"},
		{"parseDomain: !seenDomains.add(domain), lower-cased (\"has already been specified\")",
			head + dc(`<domain>API.example.com</domain>`) + dc(`<domain includeSubdomains="true">api.EXAMPLE.com</domain>`) + tail, "network-security-config/domain-config[2]/domain", "api.example.com appears twice"},
		{"parseDomain: !seenDomains.add(domain), nested configs share seenDomains",
			head + dc(`<domain>a.example.com</domain>`+dc(`<domain>a.example.com</domain>`)) + tail, "network-security-config/domain-config/domain-config/domain", "a.example.com appears twice"},
		{"parseDomain: parser.next() != TEXT (\"Domain name missing\")",
			head + dc(`<domain/><domain>b.example.com</domain>`) + tail, "network-security-config/domain-config/domain[1]", "<domain> without a name"},
		{"parseDomain: parser.next() != END_TAG (\"domain contains additional elements\")",
			head + dc(`<domain>a.example.com<x/></domain><domain>b.example.com</domain>`) + tail, "network-security-config/domain-config/domain[1]", "contains an element"},
		{"parseCertificatesEntry: sourceString == null (\"certificates element missing src attribute\")",
			head + `<base-config><trust-anchors><certificates/></trust-anchors></base-config>` + tail, "network-security-config/base-config/trust-anchors/certificates", "<certificates> without src"},
		{"parseCertificatesEntry: src not a resource, system, user or wfa (\"Unknown certificates src\")",
			head + `<base-config><trust-anchors><certificates src="System"/></trust-anchors></base-config>` + tail, "network-security-config/base-config/trust-anchors/certificates", `<certificates src="System">`},
		{"parsePinSet: SimpleDateFormat.parse throws ParseException (\"Invalid expiration date in pin-set\")",
			head + dc(`<domain>a.example.com</domain><pin-set expiration="2027-02-30">`+pin+`</pin-set>`) + tail, "network-security-config/domain-config/pin-set", "day 30 does not exist in 2027-02"},
		{"parsePinSet: non-lenient month",
			head + dc(`<domain>a.example.com</domain><pin-set expiration="2027-13-01">`+pin+`</pin-set>`) + tail, "network-security-config/domain-config/pin-set", "month 13"},
		{"parsePinSet: no date at the start",
			head + dc(`<domain>a.example.com</domain><pin-set expiration="06/30/2027">`+pin+`</pin-set>`) + tail, "network-security-config/domain-config/pin-set", "not a date"},
		{"parsePin: !Pin.isSupportedDigestAlgorithm (\"Unsupported pin digest algorithm\")",
			head + dc(`<domain>a.example.com</domain><pin-set><pin digest="SHA-1">`+pinA+`</pin></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "only SHA-256"},
		{"parsePin: digest attribute missing (isSupportedDigestAlgorithm(null))",
			head + dc(`<domain>a.example.com</domain><pin-set><pin>`+pinA+`</pin></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "only SHA-256"},
		{"parsePin: parser.next() != TEXT (\"Missing pin digest\")",
			head + dc(`<domain>a.example.com</domain><pin-set><pin digest="SHA-256"/></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "<pin> without a digest"},
		{"parsePin: Base64.decode throws IllegalArgumentException (\"Invalid pin digest\")",
			head + dc(`<domain>a.example.com</domain><pin-set><pin digest="SHA-256">`+pinA[:43]+`==</pin></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "bad padding"},
		{"parsePin: decodedDigest.length != getDigestLength (\"digest length does not match\")",
			head + dc(`<domain>a.example.com</domain><pin-set><pin digest="SHA-256">AAAA</pin></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "decodes to 3 bytes"},
		{"parsePin: parser.next() != END_TAG (\"pin contains additional elements\")",
			head + dc(`<domain>a.example.com</domain><pin-set><pin digest="SHA-256">`+pinA+`<x/></pin></pin-set>`) + tail, "network-security-config/domain-config/pin-set/pin", "<pin> contains an element"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := Android(androidApp(t, 24, 34, false, nil, tc.xml), Options{Now: fixed})
			var got []Finding
			for _, f := range r.Findings {
				if f.RuleID == "AND-NSC-INVALID" {
					got = append(got, f)
				}
			}
			if len(got) != 1 || got[0].Severity != High || got[0].Location.Element != tc.element || !strings.Contains(got[0].Message, tc.reason) ||
				!strings.Contains(got[0].Message, "XmlConfigSource.") {
				t.Fatalf("findings %+v\nwant one high at %s saying %q", got, tc.element, tc.reason)
			}
		})
	}
}

// Inside <debug-overrides>, refusals matter only for debuggable builds
// (parseNetworkSecurityConfig skips the element otherwise).
func TestNSCRefusalsDebugOverrides(t *testing.T) {
	xml := `<network-security-config><debug-overrides><domain>a.example.com</domain></debug-overrides></network-security-config>`
	for _, tc := range []struct {
		debuggable bool
		want       Severity
	}{{true, High}, {false, Info}} {
		r := Android(androidApp(t, 24, 34, tc.debuggable, nil, xml), Options{Now: fixed})
		found := false
		for _, f := range r.Findings {
			if f.RuleID == "AND-NSC-INVALID" {
				found = true
				if f.Severity != tc.want || !strings.Contains(f.Message, "<domain> is not allowed in <debug-overrides>") {
					t.Errorf("debuggable %v: %+v", tc.debuggable, f)
				}
			}
		}
		if !found {
			t.Errorf("debuggable %v: no finding", tc.debuggable)
		}
	}
}

// What Android accepts is no refusal: "wfa" and resource anchors, a
// lower-case digest name (Pin.isSupportedDigestAlgorithm ignores case),
// unpadded base64 and whitespace inside a pin (android.util.Base64 skips
// what is not in its alphabet), a nested domain-config with its own domain.
func TestNSCAcceptedAsAndroidDoes(t *testing.T) {
	xml := `<network-security-config>
  <base-config><trust-anchors><certificates src="system"/><certificates src="wfa"/><certificates src="@raw/ca"/></trust-anchors></base-config>
  <domain-config><domain>a.example.com</domain><domain>b.example.com</domain>
    <pin-set><pin digest="sha-256">` + strings.TrimRight(pinA, "=") + `</pin><pin digest="SHA-256">` + pinB[:20] + "\n  " + pinB[20:] + `</pin></pin-set>
    <domain-config><domain>c.example.com</domain></domain-config>
  </domain-config>
</network-security-config>`
	r := Android(androidApp(t, 24, 34, false, nil, xml), Options{Now: fixed})
	want(t, r, nil, []string{"AND-NSC-INVALID", "AND-PIN-INVALID", "AND-PIN-NO-BACKUP"})
	if len(r.Pins) != 6 { // two pins for a, b and (inherited) c
		t.Fatalf("pins %+v", r.Pins)
	}
}

// Expirations are read as Android's non-lenient SimpleDateFormat("yyyy-MM-dd")
// reads them in XmlConfigSource.parsePinSet: parse(String) stops after the
// date and ignores the rest; single-digit months and days are fine; a
// two-digit year is the year itself.
func TestExpirationAsAndroidReads(t *testing.T) {
	for _, tc := range []struct {
		expiration string
		want       string // the date Android reads
		finding    string // expected on 2026-11-21
	}{
		{"2027-6-30", "2027-06-30", ""},
		{"2025-01-01T12:00", "2025-01-01", "AND-PIN-EXPIRED"},
		{"2027-06-30 is the day", "2027-06-30", ""},
		{"27-06-30", "0027-06-30", "AND-PIN-EXPIRED"},
		{" 2027-06-30", "2027-06-30", ""},
		{"2026-12-1", "2026-12-01", "AND-PIN-EXPIRING"},
		{"٢٠٢٧-٠٦-٣٠", "2027-06-30", ""},                // Arabic-Indic digits: DecimalFormat reads them
		{"2028-02-29", "2028-02-29", ""},                // a leap day
		{"2027-06-3x", "2027-06-03", ""},                // the day ends at the first non-digit
		{"0100-02-29", "0100-02-28", "AND-PIN-EXPIRED"}, // Julian: 100 is a leap year (Go's calendar has no such day)
	} {
		t.Run(tc.expiration, func(t *testing.T) {
			got, err := android.ParseExpiration(tc.expiration)
			if err != nil || got.Format("2006-01-02") != tc.want {
				t.Fatalf("ParseExpiration: %v %v, want %s", got, err, tc.want)
			}
			xml := `<network-security-config><domain-config><domain>a.example.com</domain><pin-set expiration="` + tc.expiration + `">` +
				`<pin digest="SHA-256">` + pinA + `</pin><pin digest="SHA-256">` + pinB + `</pin></pin-set></domain-config></network-security-config>`
			r := Android(androidApp(t, 24, 34, false, nil, xml), Options{Now: fixed})
			absent := []string{"AND-NSC-INVALID", "AND-PIN-INVALID", "AND-PIN-EXPIRED", "AND-PIN-EXPIRING"}
			var present []string
			if tc.finding != "" {
				present = []string{tc.finding}
				absent = absent[:2]
			}
			want(t, r, present, absent)
		})
	}
	for _, bad := range []string{"", "2027", "2027-06", "2027/06/30", "0000-01-01", "2027-00-10", "2027-04-31", "2100-02-29", "-2027-06-30", "2027--06-30"} {
		if got, err := android.ParseExpiration(bad); err == nil {
			t.Errorf("ParseExpiration(%q) = %v, want an error", bad, got)
		}
	}
}

// A referenced config whose root is not <network-security-config> is
// refused by XmlUtils.beginDocument in parseNetworkSecurityConfig: the app
// fails, it does not fall back to defaults.
func TestNSCWrongRootIsInvalid(t *testing.T) {
	app := androidApp(t, 24, 34, false, nil, "")
	app.Manifest.NetworkSecurityConfig = "@0x7F120000"
	app.NSCEntry = "res/a1.xml"
	root, err := android.ParseXML([]byte(`<network-security><base-config/></network-security>`))
	if err != nil {
		t.Fatal(err)
	}
	_, app.NSCErr = android.ParseNSC(root)
	r := Android(app, Options{Now: fixed})
	want(t, r, []string{"AND-NSC-INVALID:high"}, []string{"AND-NSC-UNRESOLVED"})
}

// android.util.Base64.decode(s, DEFAULT), case by case from its state
// machine (core/java/android/util/Base64.java).
func TestAndroidBase64(t *testing.T) {
	for in, want := range map[string]int{ // decoded length, -1 for an error
		"AAAA":     3,
		"AAA":      2,  // state 3 at the end: two bytes
		"AA":       1,  // state 2: one byte
		"A":        -1, // state 1: illegal
		"AA==":     1,
		"AA=":      -1, // state 4: one '=' of two
		"AAA=":     2,
		"AAA==":    -1, // '=' in state 5
		"AAA=A":    -1, // data after padding
		"=AAA":     -1, // '=' in state 0
		"A A\nA*A": 3,  // skipped: not in the alphabet
		"":         0,
	} {
		got, ok := android.DecodeBase64(in)
		if (want < 0) != !ok || (ok && len(got) != want) {
			t.Errorf("DecodeBase64(%q) = %d bytes, %v; want %d", in, len(got), ok, want)
		}
	}
}
