package scan

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"howett.net/plist"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/archive"
)

// A bundled (@raw) anchor is info, medium once its certificate expired
// (judged with the injected clock).
func TestRawAnchorExpiry(t *testing.T) {
	ca := pki.Must(pki.NewRoot(pki.Template{CommonName: "Bundled CA",
		NotBefore: today.AddDate(-2, 0, 0), NotAfter: today.AddDate(0, 0, -1)}))
	for _, tc := range []struct {
		now  time.Time
		want string
	}{{today, "AND-RAW-ANCHOR:medium"}, {today.AddDate(0, 0, -10), "AND-RAW-ANCHOR:info"}} {
		app := androidApp(t, 24, 34, false, nil, `<network-security-config><base-config>
<trust-anchors><certificates src="@0x7F0F0000"/></trust-anchors></base-config></network-security-config>`)
		android.LoadAnchors(app.NSC, func(ref string) (string, []byte, error) {
			if ref != "@0x7F0F0000" {
				t.Fatalf("ref %q", ref)
			}
			return "res/raw/ca.pem", ca.CertPEM(), nil
		})
		now := tc.now
		r := Android(app, Options{Now: func() time.Time { return now }})
		want(t, r, []string{tc.want}, nil)
	}
}

func machO(cryptid uint32) []byte {
	var b bytes.Buffer
	for _, v := range []uint32{0xfeedfacf, 0x0100000c, 0, 2, 1, 24, 0, 0, 0x2C, 24, 0x4000, 0x1000, cryptid, 0} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	return b.Bytes()
}

// An IPA end to end: binary Info.plist, encrypted executable, a URL in a
// bundled resource.
func TestIPAArchive(t *testing.T) {
	info, err := plist.Marshal(map[string]any{
		"CFBundleIdentifier": "com.example.app", "CFBundleExecutable": "App",
		"NSAppTransportSecurity": map[string]any{"NSAllowsArbitraryLoadsInWebContent": true},
	}, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range map[string][]byte{
		"Payload/App.app/Info.plist":  info,
		"Payload/App.app/App":         machO(1),
		"Payload/App.app/config.json": []byte(`{"api": "http://api.example.com/v2"}`),
	} {
		w, _ := zw.Create(name)
		w.Write(data)
	}
	zw.Close()
	a, err := archive.New(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "App.ipa", archive.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Archive(a, Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, []string{"IOS-BINARY-ENCRYPTED:info", "IOS-ATS-WEB-CONTENT:medium", "IOS-HTTP-URL:low", "IOS-NO-PINNING:medium"}, []string{"IOS-ATS-ARBITRARY-LOADS"})
	if r.Platform != "ios" || r.App.Plist != "binary" || !r.App.Encrypted {
		t.Fatalf("report %+v", r.App)
	}
	for _, f := range r.Findings {
		if f.RuleID == "IOS-HTTP-URL" && (f.Location.Entry != "Payload/App.app/config.json" || f.Message != "http://api.example.com/v2") {
			t.Fatalf("URL finding %+v", f)
		}
	}
}
