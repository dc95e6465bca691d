package android

import (
	"errors"
	"strings"
	"testing"
)

func parseNSC(t *testing.T, s string) *NSC {
	t.Helper()
	root, err := ParseXML([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNSC(root)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Nested domain-configs inherit cleartext, anchors and pin-set from their
// parent, as the platform does.
func TestNSCInheritance(t *testing.T) {
	n := parseNSC(t, `<network-security-config>
  <domain-config cleartextTrafficPermitted="true">
    <domain includeSubdomains="true">Example.COM.</domain>
    <trust-anchors><certificates src="user" overridePins="true"/></trust-anchors>
    <pin-set expiration="2027-01-02"><pin digest="SHA-256">r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=</pin></pin-set>
    <domain-config cleartextTrafficPermitted="false">
      <domain>secure.example.com</domain>
    </domain-config>
  </domain-config>
</network-security-config>`)
	if len(n.Domains) != 2 {
		t.Fatalf("%d domain configs", len(n.Domains))
	}
	parent, child := n.Domains[0], n.Domains[1]
	if parent.Domains[0].Name != "example.com" || !parent.Domains[0].IncludeSubdomains {
		t.Fatalf("domain %+v", parent.Domains)
	}
	if *parent.Cleartext != true || *child.Cleartext != false {
		t.Fatal("cleartext not per config")
	}
	if len(child.Anchors) != 1 || child.Anchors[0].Src != "user" || child.AnchorsElement != "network-security-config/domain-config/trust-anchors" {
		t.Fatalf("child anchors %+v at %q", child.Anchors, child.AnchorsElement)
	}
	if child.PinSet == nil || child.PinSet.Expires.Format("2006-01-02") != "2027-01-02" || len(child.PinSet.Pins) != 1 {
		t.Fatalf("child pin-set %+v", child.PinSet)
	}
	if child.Element != "network-security-config/domain-config/domain-config" {
		t.Fatalf("element %q", child.Element)
	}
}

func TestNSCWrongRoot(t *testing.T) {
	root, err := ParseXML([]byte(`<manifest/>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseNSC(root); !errors.Is(err, ErrNotNSC) {
		t.Fatalf("err %v", err)
	}
}

func TestParseXMLLimits(t *testing.T) {
	deep := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	if _, err := ParseXML([]byte(deep)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("deep: %v", err)
	}
	for _, bad := range []string{"", "<a>", "<a></b>", "<a/><b/>", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`} {
		if _, err := ParseXML([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestManifest(t *testing.T) {
	root, err := ParseXML([]byte(`<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="a.b">
<uses-sdk android:minSdkVersion="21" android:targetSdkVersion="S"/>
<application android:debuggable="true" android:usesCleartextTraffic="false" android:networkSecurityConfig="@xml/nsc"/></manifest>`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	if m.MinSDK != 21 || m.TargetSDK != 0 || m.EffectiveTargetSDK() != 21 || !m.Debuggable || m.UsesCleartextTraffic == nil || *m.UsesCleartextTraffic || m.NetworkSecurityConfig != "@xml/nsc" {
		t.Fatalf("%+v", m)
	}
}
