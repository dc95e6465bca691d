package ipa

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"howett.net/plist"

	"pinset.dev/pinset/scan/archive"
)

func infoDict(ats map[string]any) map[string]any {
	return map[string]any{
		"CFBundleIdentifier":     "com.example.app",
		"CFBundleExecutable":     "App",
		"MinimumOSVersion":       "15.0",
		"NSAppTransportSecurity": ats,
	}
}

func encode(t testing.TB, v any, format int) []byte {
	t.Helper()
	b, err := plist.Marshal(v, format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Booleans are real booleans in binary plists and often "YES"/"NO" strings
// in hand-written ones: both must read the same.
func TestFlagsRealAndStringBooleans(t *testing.T) {
	for _, tc := range []struct {
		name   string
		value  any
		format int
		want   bool
	}{
		{"binary true", true, plist.BinaryFormat, true},
		{"xml true", true, plist.XMLFormat, true},
		{"binary false", false, plist.BinaryFormat, false},
		{"YES", "YES", plist.XMLFormat, true},
		{"NO", "NO", plist.BinaryFormat, false},
		{"1", 1, plist.BinaryFormat, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(t, infoDict(map[string]any{"NSAllowsArbitraryLoads": tc.value}), tc.format)
			info, _, err := ParseInfo(b)
			if err != nil {
				t.Fatal(err)
			}
			f := info.ATS.AllowsArbitraryLoads
			if !f.Set || f.Value != tc.want {
				t.Fatalf("flag %+v, want set and %v", f, tc.want)
			}
		})
	}
}

func TestPinnedDomainsAndExceptions(t *testing.T) {
	b := encode(t, infoDict(map[string]any{
		"NSExceptionDomains": map[string]any{
			"legacy.example.com": map[string]any{
				"NSIncludesSubdomains":                        true,
				"NSExceptionAllowsInsecureHTTPLoads":          "YES",
				"NSExceptionMinimumTLSVersion":                "TLSv1.0",
				"NSThirdPartyExceptionRequiresForwardSecrecy": false,
			},
		},
		"NSPinnedDomains": map[string]any{
			"api.example.com": map[string]any{
				"NSPinnedLeafIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="}},
			},
		},
	}), plist.BinaryFormat)
	info, format, err := ParseInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if format != "binary" {
		t.Fatalf("format %q", format)
	}
	ex := info.ATS.ExceptionDomains["legacy.example.com"]
	if !ex.IncludesSubdomains.True() || !ex.AllowsInsecureHTTPLoads.True() || ex.MinimumTLSVersion != "TLSv1.0" || !ex.ThirdPartyRequiresForwardSecrecy.False() {
		t.Fatalf("exception %+v", ex)
	}
	pd := info.ATS.PinnedDomains["api.example.com"]
	if pd.LeafIdentities == nil || len(*pd.LeafIdentities) != 1 || pd.CAIdentities != nil {
		t.Fatalf("pinned %+v", pd)
	}
}

func TestMalformedPlist(t *testing.T) {
	good := encode(t, infoDict(nil), plist.BinaryFormat)
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-5],
		"not dict":  encode(t, []any{"a"}, plist.XMLFormat),
		"garbage":   []byte("bplist00\xff\xff\xff"),
	} {
		if _, _, err := ParseInfo(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// machO builds a thin arm64 executable with LC_ENCRYPTION_INFO_64 and some
// strings after the load commands.
func machO(cryptid uint32, strs string) []byte {
	var b bytes.Buffer
	w := func(vs ...any) {
		for _, v := range vs {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	w(uint32(0xfeedfacf), uint32(0x0100000c), uint32(0), uint32(2), uint32(1), uint32(24), uint32(0), uint32(0))
	w(uint32(lcEncryptionInfo64), uint32(24), uint32(0x4000), uint32(0x1000), cryptid, uint32(0))
	b.WriteString(strs)
	return b.Bytes()
}

func TestMachO(t *testing.T) {
	bin, err := ParseMachO(machO(1, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if !bin.Encrypted {
		t.Fatal("cryptid 1 not seen")
	}
	bin, err = ParseMachO(machO(0, "x"))
	if err != nil || bin.Encrypted {
		t.Fatalf("cryptid 0: %+v %v", bin, err)
	}
	if _, err := ParseMachO([]byte("\xcf\xfa\xed\xfe\x0c\x00\x00\x01")); err == nil {
		t.Fatal("truncated Mach-O accepted")
	}
}

func ipaZip(t *testing.T, files map[string][]byte) *archive.Archive {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, d := range files {
		f, _ := zw.Create(n)
		f.Write(d)
	}
	zw.Close()
	a, err := archive.New(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "App.ipa", archive.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRead(t *testing.T) {
	a := ipaZip(t, map[string][]byte{
		"Payload/App.app/Info.plist":                             encode(t, infoDict(map[string]any{"NSAllowsLocalNetworking": true}), plist.BinaryFormat),
		"Payload/App.app/App":                                    machO(0, "\x00http://api.example.com/login\x00"),
		"Payload/App.app/config.json":                            []byte(`{"u":"http://cdn.example.net/x"}`),
		"Payload/App.app/Base.lproj/Main.storyboardc/Info.plist": encode(t, map[string]any{"x": 1}, plist.XMLFormat),
	})
	app, err := Read(a)
	if err != nil {
		t.Fatal(err)
	}
	if app.PlistEntry != "Payload/App.app/Info.plist" || app.Binary == nil || app.Binary.Err != nil || app.Binary.Encrypted {
		t.Fatalf("app %+v binary %+v", app, app.Binary)
	}
	got := map[string]bool{}
	for _, u := range app.URLs {
		got[u.URL] = true
	}
	if !got["http://api.example.com/login"] || !got["http://cdn.example.net/x"] {
		t.Fatalf("URLs %+v", app.URLs)
	}
}

func TestReadNotAnIPA(t *testing.T) {
	_, err := Read(ipaZip(t, map[string][]byte{"Payload/readme.txt": []byte("x")}))
	var ae *archive.Error
	if !errors.As(err, &ae) || ae.File != "App.ipa" {
		t.Fatalf("err %v", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(encode(f, infoDict(map[string]any{"NSAllowsArbitraryLoads": "YES"}), plist.XMLFormat))
	f.Add(encode(f, infoDict(map[string]any{"NSPinnedDomains": map[string]any{"a.com": map[string]any{
		"NSPinnedCAIdentities": []any{map[string]any{"SPKI-SHA256-BASE64": "x"}}}}}), plist.BinaryFormat))
	f.Add(encode(f, map[string]any{"TSKConfiguration": map[string]any{"TSKPinnedDomains": map[string]any{
		"b.com": map[string]any{"TSKPublicKeyHashes": []any{"x"}, "TSKExpirationDate": "2020-01-01"}}}}, plist.BinaryFormat))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, _, err := ParseInfo(b)
		if err == nil && info == nil {
			t.Fatal("nil info without error")
		}
	})
}

func FuzzParseMachO(f *testing.F) {
	f.Add(machO(1, "http://a.example.com"))
	f.Add(machO(0, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		bin, err := ParseMachO(b)
		if err == nil && bin == nil {
			t.Fatal("nil binary without error")
		}
	})
}
