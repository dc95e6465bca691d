package scan

import (
	"archive/zip"
	"bytes"
	"testing"
	"time"

	"howett.net/plist"

	"pinset.dev/pinset/scan/archive"
)

// fuzzZip builds a small zip for the fuzz seeds.
func fuzzZip(f *testing.F, files map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		fw, err := w.Create(name)
		if err != nil {
			f.Fatal(err)
		}
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzArchive feeds arbitrary bytes to the whole scanner as an uploaded
// artifact would reach it: the zip reader with its limits, then whichever of
// the APK, AAB or IPA readers the entries select. Whatever the input, a
// report or an error comes back; never a panic or a hang.
func FuzzArchive(f *testing.F) {
	info, err := plist.Marshal(map[string]any{
		"CFBundleExecutable": "App",
		"NSAppTransportSecurity": map[string]any{
			"NSAllowsArbitraryLoads": true,
			"NSPinnedDomains": map[string]any{"example.com": map[string]any{
				"NSPinnedCAIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": pinA}}}},
		},
	}, plist.BinaryFormat)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fuzzZip(f, map[string][]byte{"Payload/App.app/Info.plist": info, "Payload/App.app/App": []byte("\xcf\xfa\xed\xfehttp://x.example/")}))
	f.Add(fuzzZip(f, map[string][]byte{"AndroidManifest.xml": {0x03, 0x00, 0x08, 0x00, 0x10, 0, 0, 0}, "resources.arsc": {0x02, 0x00, 0x0c, 0x00}}))
	f.Add(fuzzZip(f, map[string][]byte{"base/manifest/AndroidManifest.xml": {0x0a, 0x02, 0x12, 0x00}, "base/resources.pb": {0x0a, 0x00}}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) }}
	limits := archive.Limits{MaxEntry: 1 << 20, MaxTotal: 8 << 20, MaxRatio: 200, MaxEntries: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := archive.New(bytes.NewReader(data), int64(len(data)), "fuzz.zip", limits)
		if err != nil {
			return
		}
		defer a.Close()
		r, err := Archive(a, opts)
		if err == nil && r == nil {
			t.Fatal("no report and no error")
		}
	})
}

// FuzzBytes does the same for the bare files scan accepts: Info.plist (XML
// or binary) and Network Security Config (XML or compiled AXML).
func FuzzBytes(f *testing.F) {
	f.Add("Info.plist", []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>NSAppTransportSecurity</key><dict><key>NSAllowsArbitraryLoads</key><string>YES</string></dict></dict></plist>`))
	f.Add("network_security_config.xml", []byte(`<network-security-config><base-config cleartextTrafficPermitted="true"><trust-anchors><certificates src="user"/></trust-anchors></base-config><domain-config><domain includeSubdomains="true">example.com</domain><pin-set expiration="2020-01-01"><pin digest="SHA-256">`+pinA+`</pin></pin-set></domain-config></network-security-config>`))
	f.Add("nsc.xml", []byte{0x03, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00})
	f.Add("x.plist", []byte("bplist00"))
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) }}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		r, err := Bytes(name, data, opts)
		if err == nil && r == nil {
			t.Fatal("no report and no error")
		}
	})
}
