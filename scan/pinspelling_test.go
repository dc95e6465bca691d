package scan

import (
	"strings"
	"testing"

	"howett.net/plist"

	"pinset.dev/pinset/pin"
)

// iOS NSPinnedDomains and TrustKit read SPKI-SHA256-BASE64 as bare base64
// only (pin.ParseBase64): a pin in another spelling is IOS-PIN-INVALID, and
// the finding shows the base64 to write instead; white space around a
// valid value is tolerated as before.
func TestIOSPinSpellings(t *testing.T) {
	p := pin.MustParse(pinA)
	info := map[string]any{"CFBundleIdentifier": "dev.pinset.app", "NSAppTransportSecurity": map[string]any{
		"NSPinnedDomains": map[string]any{
			"hex.example":   map[string]any{"NSPinnedLeafIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": p.Format(pin.Hex)}}},
			"space.example": map[string]any{"NSPinnedLeafIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": " " + pinA + "\n"}}},
		},
	}}
	r, err := Bytes("Info.plist", plistBytes(t, info, plist.XMLFormat), Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	var invalid []string
	for _, f := range r.Findings {
		if f.RuleID == "IOS-PIN-INVALID" {
			invalid = append(invalid, f.Message)
		}
	}
	if len(invalid) != 1 || !strings.Contains(invalid[0], "write "+pinA) {
		t.Fatalf("IOS-PIN-INVALID findings %q, want one for the hex spelling showing %s", invalid, pinA)
	}
	if len(r.Pins) != 1 || r.Pins[0].Host != "space.example" || r.Pins[0].Pin != p {
		t.Fatalf("pins %+v, want the one of space.example", r.Pins)
	}
}
