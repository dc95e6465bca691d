package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/scan/android"
)

var today = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

func fixed() time.Time { return today }

const (
	pinA = "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="
	pinB = "YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="
)

func nsc(t *testing.T, xml string) *android.NSC {
	t.Helper()
	root, err := android.ParseXML([]byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	n, err := android.ParseNSC(root)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func androidApp(t *testing.T, min, target int, debuggable bool, cleartext *bool, nscXML string) *android.App {
	app := &android.App{File: "app.apk", Format: "apk", ManifestEntry: "AndroidManifest.xml",
		Manifest: &android.Manifest{Package: "com.example", MinSDK: min, TargetSDK: target, Debuggable: debuggable, UsesCleartextTraffic: cleartext}}
	if nscXML != "" {
		app.Manifest.NetworkSecurityConfig = "@0x7F120000"
		app.NSCEntry = "res/a1.xml"
		app.NSC = nsc(t, nscXML)
	}
	return app
}

// ids returns "ID:severity" of every finding.
func ids(r *Report) map[string]bool {
	m := map[string]bool{}
	for _, f := range r.Findings {
		m[f.RuleID+":"+f.Severity.String()] = true
		m[f.RuleID] = true
	}
	return m
}

func want(t *testing.T, r *Report, present []string, absent []string) {
	t.Helper()
	got := ids(r)
	for _, id := range present {
		if !got[id] {
			t.Errorf("missing %s; findings: %v", id, keys(got))
		}
	}
	for _, id := range absent {
		if got[id] {
			t.Errorf("unexpected %s", id)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		if strings.Contains(k, ":") {
			out = append(out, k)
		}
	}
	return out
}

func ptr(b bool) *bool { return &b }

// MobSF misses the cleartext default below API 28; the boundary is 27/28.
func TestCleartextDefaultTargetSdk(t *testing.T) {
	r := Android(androidApp(t, 24, 27, false, nil, ""), Options{Now: fixed})
	want(t, r, []string{"AND-CLEARTEXT-DEFAULT:high"}, []string{"AND-CLEARTEXT-MANIFEST"})
	r = Android(androidApp(t, 24, 28, false, nil, ""), Options{Now: fixed})
	want(t, r, nil, []string{"AND-CLEARTEXT-DEFAULT"})
	r = Android(androidApp(t, 24, 27, false, ptr(false), ""), Options{Now: fixed})
	want(t, r, nil, []string{"AND-CLEARTEXT-DEFAULT"})
	r = Android(androidApp(t, 24, 30, false, ptr(true), ""), Options{Now: fixed})
	want(t, r, []string{"AND-CLEARTEXT-MANIFEST:high"}, nil)
	// With an NSC, an unset base-config defaults by targetSdk too.
	r = Android(androidApp(t, 24, 26, false, nil, `<network-security-config><base-config/></network-security-config>`), Options{Now: fixed})
	want(t, r, []string{"AND-CLEARTEXT-DEFAULT:high"}, nil)
	// targetSdk 23 trusts user CAs; minSdk below 24 is medium.
	r = Android(androidApp(t, 19, 23, false, ptr(false), ""), Options{Now: fixed})
	want(t, r, []string{"AND-USER-CA-DEFAULT:high", "AND-MINSDK-USER-CA:medium"}, nil)
	r = Android(androidApp(t, 24, 24, false, ptr(false), ""), Options{Now: fixed})
	want(t, r, nil, []string{"AND-USER-CA-DEFAULT", "AND-MINSDK-USER-CA"})
}

const pinnedNSC = `<network-security-config>
  <base-config cleartextTrafficPermitted="false"/>
  <domain-config>
    <domain includeSubdomains="true">example.com</domain>
    <pin-set expiration="%s">
      <pin digest="SHA-256">` + pinA + `</pin>
      %s
    </pin-set>
  </domain-config>
  <domain-config cleartextTrafficPermitted="true">
    <domain>10.0.2.2</domain>
  </domain-config>
  <domain-config cleartextTrafficPermitted="true">
    <domain>legacy.example.net</domain>
    <trust-anchors>
      <certificates src="user"/>
      <certificates src="system" overridePins="true"/>
    </trust-anchors>
  </domain-config>
  <debug-overrides><trust-anchors><certificates src="user"/></trust-anchors></debug-overrides>
</network-security-config>`

func pinned(expiration, extra string) string {
	return strings.Replace(strings.Replace(pinnedNSC, "%s", expiration, 1), "%s", extra, 1)
}

// Expiration is compared with the injected clock, not ignored.
func TestPinSetExpiry(t *testing.T) {
	backup := `<pin digest="SHA-256">` + pinB + `</pin>`
	r := Android(androidApp(t, 24, 34, false, nil, pinned("2026-11-20", backup)), Options{Now: fixed})
	want(t, r, []string{"AND-PIN-EXPIRED:high"}, []string{"AND-PIN-EXPIRING", "AND-PIN-NO-BACKUP"})
	r = Android(androidApp(t, 24, 34, false, nil, pinned("2026-12-01", backup)), Options{Now: fixed})
	want(t, r, []string{"AND-PIN-EXPIRING:low"}, []string{"AND-PIN-EXPIRED"})
	r = Android(androidApp(t, 24, 34, false, nil, pinned("2027-06-01", "")), Options{Now: fixed})
	want(t, r, []string{"AND-PIN-NO-BACKUP:low"}, []string{"AND-PIN-EXPIRED", "AND-PIN-EXPIRING", "AND-NO-PINNING"})
	// The same config a year later.
	r = Android(androidApp(t, 24, 34, false, nil, pinned("2027-06-01", "")), Options{Now: func() time.Time { return today.AddDate(1, 0, 0) }})
	want(t, r, []string{"AND-PIN-EXPIRED"}, nil)
}

func TestNSCFindings(t *testing.T) {
	r := Android(androidApp(t, 24, 34, true, nil, pinned("2027-06-01", "")), Options{Now: fixed})
	want(t, r, []string{
		"AND-CLEARTEXT-DOMAIN:high", // legacy.example.net
		"AND-CLEARTEXT-DOMAIN:info", // the emulator host
		"AND-USER-CA:high",
		"AND-OVERRIDE-PINS:high",
		"AND-DEBUG-OVERRIDES:high", // debuggable
	}, []string{"AND-CLEARTEXT-BASE", "AND-CLEARTEXT-DEFAULT"})
	// debug-overrides' user CA is not a finding; not debuggable: info.
	r = Android(androidApp(t, 24, 34, false, nil, pinned("2027-06-01", "")), Options{Now: fixed})
	want(t, r, []string{"AND-DEBUG-OVERRIDES:info"}, []string{"AND-DEBUG-OVERRIDES:high"})
	for _, f := range r.Findings {
		if f.RuleID == "AND-USER-CA" && strings.Contains(f.Location.Element, "debug-overrides") {
			t.Errorf("user CA inside debug-overrides reported: %+v", f)
		}
		if f.Location.File != "app.apk" || f.MASVS == "" || f.Fix == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	// Pins Android refuses: the whole config is refused.
	r = Android(androidApp(t, 24, 34, false, nil, pinned("2027-06-01", `<pin digest="SHA-1">abc</pin><pin digest="SHA-256">sha256/`+pinB+`</pin>`)), Options{Now: fixed})
	n := 0
	for _, f := range r.Findings {
		if f.RuleID == "AND-NSC-INVALID" && f.Severity == High {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d AND-NSC-INVALID, want 2", n)
	}
}

func TestFirstPartyAndUnresolved(t *testing.T) {
	app := androidApp(t, 24, 34, false, nil, pinned("2027-06-01", ""))
	r := Android(app, Options{Now: fixed, FirstParty: []string{"api.example.com", "example.org"}})
	var uncovered []string
	for _, f := range r.Findings {
		if f.RuleID == "AND-NO-PINNING" {
			uncovered = append(uncovered, f.Message)
		}
	}
	if len(uncovered) != 1 || !strings.Contains(uncovered[0], "example.org") {
		t.Fatalf("AND-NO-PINNING: %v", uncovered)
	}
	app = androidApp(t, 24, 34, false, nil, "")
	app.Manifest.NetworkSecurityConfig = "@0x7F120009"
	r = Android(app, Options{Now: fixed})
	want(t, r, []string{"AND-NSC-UNRESOLVED:medium"}, nil)
}

func TestCrossCheck(t *testing.T) {
	app := androidApp(t, 24, 34, false, nil, pinned("2027-06-01", `<pin digest="SHA-256">`+pinB+`</pin>`))
	set, err := policy.NewSet([]policy.Policy{{Pattern: "example.com", IncludeSubdomains: true, Pins: []pin.Pin{pin.MustParse(pinA), pin.MustParse("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")}}})
	if err != nil {
		t.Fatal(err)
	}
	r := Android(app, Options{Now: fixed, Expected: set})
	var unmatched []Finding
	for _, f := range r.Findings {
		if f.RuleID == "PIN-UNMATCHED" {
			unmatched = append(unmatched, f)
		}
	}
	if len(unmatched) != 1 || !strings.Contains(unmatched[0].Message, pinB) {
		t.Fatalf("PIN-UNMATCHED: %+v", unmatched)
	}
	// The live chain holds pinB: nothing is unmatched.
	r = Android(app, Options{Now: fixed, Expected: set, Live: func(ctx context.Context, host string) ([]pin.Pin, error) {
		return []pin.Pin{pin.MustParse(pinB)}, nil
	}})
	want(t, r, nil, []string{"PIN-UNMATCHED"})
}

func plistBytes(t *testing.T, v any, format int) []byte {
	b, err := plist.Marshal(v, format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Real booleans (binary plists) and "YES"/"NO" strings both fire.
func TestATS(t *testing.T) {
	for _, format := range []int{plist.XMLFormat, plist.BinaryFormat} {
		for _, yes := range []any{true, "YES"} {
			info := map[string]any{"NSAppTransportSecurity": map[string]any{
				"NSAllowsArbitraryLoads": yes,
				"NSExceptionDomains": map[string]any{
					"old.example.com": map[string]any{
						"NSIncludesSubdomains":                        yes,
						"NSTemporaryExceptionAllowsInsecureHTTPLoads": yes,
						"NSExceptionMinimumTLSVersion":                "TLSv1.1",
						"NSExceptionRequiresForwardSecrecy":           "NO",
					},
				},
				"NSPinnedDomains": map[string]any{
					"example.com":  map[string]any{"NSIncludesSubdomains": yes, "NSPinnedCAIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": pinA}}},
					"bad.example":  map[string]any{"NSPinnedLeafIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": "c2hvcnQ="}}},
					"none.example": map[string]any{"NSIncludesSubdomains": true},
				},
			}}
			r, err := Bytes("Info.plist", plistBytes(t, info, format), Options{Now: fixed, FirstParty: []string{"api.example.com", "deep.api.example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			want(t, r, []string{
				"IOS-ATS-ARBITRARY-LOADS:high", "IOS-ATS-INSECURE-HTTP:high", "IOS-ATS-TLS-MIN:high",
				"IOS-ATS-NO-FORWARD-SECRECY:high", // escalated by includes-subdomains
				"IOS-ATS-INCLUDES-SUBDOMAINS:info", "IOS-PIN-INVALID:high", "IOS-PIN-CA-ONLY:info", "IOS-PIN-NO-BACKUP:low",
			}, nil)
			// NSIncludesSubdomains reaches one label only: api.example.com
			// is covered, deep.api.example.com is not.
			var missing []string
			for _, f := range r.Findings {
				if f.RuleID == "IOS-NO-PINNING" {
					missing = append(missing, f.Message)
				}
			}
			if len(missing) != 1 || !strings.Contains(missing[0], "deep.api.example.com") {
				t.Fatalf("format %d: IOS-NO-PINNING %v", format, missing)
			}
		}
	}
	// iOS 10+ ignores NSAllowsArbitraryLoads when another global key is set.
	info := map[string]any{"NSAppTransportSecurity": map[string]any{"NSAllowsArbitraryLoads": true, "NSAllowsLocalNetworking": true}}
	r, err := Bytes("Info.plist", plistBytes(t, info, plist.BinaryFormat), Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, []string{"IOS-ATS-ARBITRARY-LOADS:low", "IOS-ATS-LOCAL-NETWORKING:low"}, []string{"IOS-ATS-ARBITRARY-LOADS:high"})
}

func TestTrustKitExpiry(t *testing.T) {
	info := map[string]any{"TSKConfiguration": map[string]any{"TSKPinnedDomains": map[string]any{
		"example.com": map[string]any{"TSKPublicKeyHashes": []any{pinA, pinB}, "TSKExpirationDate": "2026-11-21"},
		"example.org": map[string]any{"TSKPublicKeyHashes": []any{pinA, pinB}, "TSKExpirationDate": "2026-11-22"},
	}}}
	r, err := Bytes("Info.plist", plistBytes(t, info, plist.XMLFormat), Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	var expired []string
	for _, f := range r.Findings {
		if f.RuleID == "IOS-TRUSTKIT-EXPIRED" {
			expired = append(expired, f.Message)
		}
	}
	if len(expired) != 1 || !strings.Contains(expired[0], "example.com") {
		t.Fatalf("expired: %v", expired)
	}
}

func TestSARIF(t *testing.T) {
	r := Android(androidApp(t, 19, 26, true, nil, pinned("2020-01-01", "")), Options{Now: fixed})
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string                `json:"ruleId"`
				RuleIndex int                   `json:"ruleIndex"`
				Level     string                `json:"level"`
				Message   struct{ Text string } `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Tool.Driver.Rules) != len(Rules) {
		t.Fatalf("log header %+v", log)
	}
	run := log.Runs[0]
	if len(run.Results) != len(r.Findings) || len(run.Results) == 0 {
		t.Fatalf("%d results for %d findings", len(run.Results), len(r.Findings))
	}
	levels := map[string]bool{}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Fatalf("ruleIndex %d does not point at %s", res.RuleIndex, res.RuleID)
		}
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI != "app.apk" || res.Message.Text == "" {
			t.Fatalf("result %+v", res)
		}
		levels[res.Level] = true
	}
	if !levels["error"] || !levels["warning"] {
		t.Fatalf("levels %v", levels)
	}
	if !r.Fails(High) || r.Fails(High+1) {
		t.Fatal("Fails threshold")
	}
}

func TestRulesComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] || r.Title == "" || r.Fix == "" || !strings.HasPrefix(r.MASVS, "MASVS-NETWORK-") {
			t.Errorf("rule %+v", r)
		}
		seen[r.ID] = true
	}
}

// docs/scan.md documents every rule.
func TestRulesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "scan.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		if !strings.Contains(string(b), "| `"+r.ID+"` |") {
			t.Errorf("docs/scan.md does not list %s", r.ID)
		}
	}
}

// Every id the rules code emits is a documented Rule.
func TestFindingIDsAreRules(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`newFinding\("([A-Z0-9-]+)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			n++
			if _, ok := RuleByID(string(m[1])); !ok {
				t.Errorf("%s: newFinding(%q) is not in Rules", f, m[1])
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d newFinding calls", n)
	}
}
