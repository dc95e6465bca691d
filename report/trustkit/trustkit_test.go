package trustkit

import (
	"crypto/x509"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// The body comes from enforce.Failure as it is: the policy's pattern is
// noted, a wildcard pattern includes subdomains, report-only does not
// enforce, and a failure without a verified chain says InvalidChain.
func TestFromFailure(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "api.example.com"))
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f := &enforce.Failure{Host: "api.example.com", Port: 443, Policy: policy.Policy{Pattern: "*.example.com"},
		Expected: []pin.Pin{{1}, {2}}, ServedChain: h.Leaf.Chain, ReportOnly: true}
	b := FromFailure(f, App{BundleID: "shop"}, now)
	if b.NotedHostname != "*.example.com" || !b.IncludeSubdomains || b.EnforcePinning || b.AppPlatform != PlatformGo ||
		b.ValidationResult != ResultInvalidChain || len(b.ValidatedCertificateChain) != 0 || b.DateTime != "2026-05-06T07:08:09Z" ||
		len(b.KnownPins) != 2 || b.KnownPins[0] != (pin.Pin{1}).Format(pin.HPKP) {
		t.Fatalf("body %+v", b)
	}
	f.VerifiedChains = [][]*x509.Certificate{h.Leaf.Chain}
	f.ReportOnly = false
	f.Policy = policy.Policy{}
	b = FromFailure(f, App{BundleID: "shop", Platform: "ANDROID"}, now)
	if b.NotedHostname != "api.example.com" || b.IncludeSubdomains || !b.EnforcePinning || b.AppPlatform != "ANDROID" ||
		b.ValidationResult != ResultNoMatchingPin || len(b.ValidatedCertificateChain) != len(h.Leaf.Chain) {
		t.Fatalf("body %+v", b)
	}
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil || m["known-pins-expiration-date"] != nil {
		t.Fatalf("marshal: %s, %v", out, err)
	}
}

// The SDK builds reports without linking the service's parser.
func TestSDKDoesNotLinkTheParser(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list dependencies with: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "pinset.dev/pinset/client", "pinset.dev/pinset/mobile").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "pinset.dev/pinset/report" {
			t.Fatalf("the SDK links %s", p)
		}
	}
	if !strings.Contains(string(out), "pinset.dev/pinset/report/trustkit") {
		t.Fatal("go list did not list the SDK's report builder: the check is broken")
	}
}
