package export

import (
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// TestNSCCarriesBundledCA: an app whose base-config trusts a CA it bundles
// keeps trusting it for the hosts the export pins. A domain-config's own
// <trust-anchors> replace the base-config's (AOSP XmlConfigSource), so the
// anchors must be written there.
func TestNSCCarriesBundledCA(t *testing.T) {
	app := []byte(`<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
    <base-config cleartextTrafficPermitted="false">
        <trust-anchors>
            <certificates src="@raw/backend_ca" />
            <certificates src="system" />
            <certificates src="user" overridePins="true" />
        </trust-anchors>
    </base-config>
</network-security-config>`)
	anchors, err := ReadBaseAnchors(app)
	if err != nil {
		t.Fatal(err)
	}
	want := []TrustAnchor{{Src: "@raw/backend_ca"}, {Src: "system"}, {Src: "user", OverridePins: true}}
	if len(anchors) != 3 || anchors[0] != want[0] || anchors[1] != want[1] || anchors[2] != want[2] {
		t.Fatalf("anchors %+v, want %+v", anchors, want)
	}
	in := Input{Policies: []policy.Policy{{Pattern: "api.example.com", Pins: []pin.Pin{fakePin("1"), fakePin("2")}}}, TrustAnchors: anchors}
	for _, format := range []string{"android-nsc", "trustkit-android"} {
		res, err := Export(format, in)
		if err != nil {
			t.Fatal(err)
		}
		doc := parseNSC(t, res.Data)
		if got := strings.Join(doc.Domains[0].Anchors, ","); got != "@raw/backend_ca,system,user" {
			t.Errorf("%s: anchors %s", format, got)
		}
		if strings.Contains(string(res.Data), "overridePins") {
			t.Errorf("%s: overridePins written:\n%s", format, res.Data)
		}
		if len(res.Warnings) != 1 || res.Warnings[0].Code != WarnTrustAnchors || !strings.Contains(res.Warnings[0].Message, "user is written without overridePins") {
			t.Errorf("%s: warnings %v", format, res.Warnings)
		}
	}
	// Without anchors: system only, and a warning says what that drops.
	in.TrustAnchors = nil
	res, err := Export("android-nsc", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Code != WarnTrustAnchors || !strings.Contains(res.Warnings[0].Message, "@raw/...") {
		t.Errorf("warnings %v", res.Warnings)
	}

	for _, c := range []struct {
		doc  string
		want error
	}{
		{`<network-security-config><domain-config><domain>a.example.com</domain></domain-config></network-security-config>`, ErrNoBaseAnchors},
		{`<network-security-config><base-config cleartextTrafficPermitted="false"/></network-security-config>`, ErrNoBaseAnchors},
		{`<network-security-config><base-config><trust-anchors><certificates src="wfa"/></trust-anchors></base-config></network-security-config>`, ErrTrustAnchor},
		{`<network-security-config><base-config><trust-anchors><certificates src="@raw/a&quot; x=&quot;"/></trust-anchors></base-config></network-security-config>`, ErrTrustAnchor},
	} {
		if _, err := ReadBaseAnchors([]byte(c.doc)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.doc, err, c.want)
		}
	}
	if _, err := ReadBaseAnchors([]byte(`<network-security-config><base-config>`)); err == nil {
		t.Error("truncated XML accepted")
	}
	in.TrustAnchors = []TrustAnchor{{Src: `@raw/x"/><certificates src="user`}}
	if _, err := Export("android-nsc", in); !errors.Is(err, ErrTrustAnchor) {
		t.Errorf("a src with markup: %v", err)
	}
}
