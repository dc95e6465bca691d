package apk

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/scan/archive"
)

// manifest builds an AndroidManifest.xml tree.
func manifest(min, target uint32, app ...xAttr) *xNode {
	return &xNode{name: "manifest", attrs: []xAttr{str(false, "package", "com.example.app")}, children: []*xNode{
		{name: "uses-sdk", attrs: []xAttr{integer("minSdkVersion", min), integer("targetSdkVersion", target)}},
		{name: "application", attrs: app},
	}}
}

func nscTree() *xNode {
	return &xNode{name: "network-security-config", children: []*xNode{
		{name: "base-config", attrs: []xAttr{boolean("cleartextTrafficPermitted", false)}},
		{name: "domain-config", children: []*xNode{
			{name: "domain", attrs: []xAttr{boolean("includeSubdomains", true)}},
			{name: "pin-set", attrs: []xAttr{str(false, "expiration", "2027-01-01")}},
			{name: "trust-anchors", children: []*xNode{{name: "certificates", attrs: []xAttr{ref("src", resID(2, 0))}}}},
		}},
	}}
}

func openZip(t *testing.T, b []byte) *archive.Archive {
	t.Helper()
	a, err := archive.New(bytes.NewReader(b), int64(len(b)), "app.apk", archive.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecodeManifest(t *testing.T) {
	b := buildAXML(manifest(21, 27, boolean("debuggable", true), boolean("usesCleartextTraffic", true)))
	root, err := DecodeXML(b)
	if err != nil {
		t.Fatal(err)
	}
	if root.Name != "manifest" {
		t.Fatalf("root %q", root.Name)
	}
	app := root.Child("application")[0]
	if v, _ := app.Attr("debuggable"); v != "true" {
		t.Fatalf("debuggable = %q", v)
	}
	sdk := root.Child("uses-sdk")[0]
	if v, _ := sdk.Attr("targetSdkVersion"); v != "27" {
		t.Fatalf("targetSdkVersion = %q", v)
	}
}

// The NSC sits at an obfuscated path and is found only through the table.
func TestReadResolvesNSCThroughTable(t *testing.T) {
	table := buildTable([]string{"xml", "raw"}, map[string][]resValue{
		"xml": {{typ: typeString, str: "res/zz.xml"}},
		"raw": {{typ: typeString, str: "res/q1.pem"}},
	})
	files := map[string][]byte{
		"AndroidManifest.xml": buildAXML(manifest(24, 34, ref("networkSecurityConfig", resID(1, 0)))),
		"resources.arsc":      table,
		"res/zz.xml":          buildAXML(nscTree()),
		// A decoy with the conventional name: must not be read.
		"res/xml/network_security_config.xml": buildAXML(&xNode{name: "network-security-config", children: []*xNode{
			{name: "base-config", attrs: []xAttr{boolean("cleartextTrafficPermitted", true)}}}}),
		"res/q1.pem":  []byte("not a certificate"),
		"classes.dex": []byte("dex\n035\x00....http://api.example.com/v1\x00http://schemas.android.com/apk/res/android\x00"),
	}
	app, err := Read(openZip(t, buildZip(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if app.NSCEntry != "res/zz.xml" || app.NSC == nil {
		t.Fatalf("NSC entry %q (err %v)", app.NSCEntry, app.NSCErr)
	}
	if c := app.NSC.Base.Cleartext; c == nil || *c {
		t.Fatal("read the decoy, or lost cleartextTrafficPermitted")
	}
	d := app.NSC.Domains[0]
	if d.PinSet == nil || d.PinSet.Expiration != "2027-01-01" {
		t.Fatalf("pin-set %+v", d.PinSet)
	}
	if len(d.Anchors) != 1 || d.Anchors[0].File != "res/q1.pem" || d.Anchors[0].Err == nil {
		t.Fatalf("raw anchor %+v", d.Anchors)
	}
	if len(app.URLs) != 1 || app.URLs[0].URL != "http://api.example.com/v1" {
		t.Fatalf("URLs %+v", app.URLs)
	}
	if app.Manifest.MinSDK != 24 || app.Manifest.TargetSDK != 34 {
		t.Fatalf("manifest %+v", app.Manifest)
	}
}

func TestUnresolvableNSC(t *testing.T) {
	files := map[string][]byte{
		"AndroidManifest.xml": buildAXML(manifest(24, 34, ref("networkSecurityConfig", resID(1, 5)))),
		"resources.arsc":      buildTable([]string{"xml"}, map[string][]resValue{"xml": {{typ: typeString, str: "res/a.xml"}}}),
	}
	app, err := Read(openZip(t, buildZip(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if app.NSC != nil || app.NSCErr == nil {
		t.Fatalf("NSC %v err %v", app.NSC, app.NSCErr)
	}
}

func TestMalformedManifestNamesEntry(t *testing.T) {
	good := buildAXML(manifest(24, 34))
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)/2],
		"garbage":   bytes.Repeat([]byte{0xff}, 64),
	} {
		_, err := Read(openZip(t, buildZip(t, map[string][]byte{"AndroidManifest.xml": b})))
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		var ae *archive.Error
		if !errors.As(err, &ae) || ae.Entry != "AndroidManifest.xml" || !strings.Contains(err.Error(), "app.apk: AndroidManifest.xml") {
			t.Fatalf("%s: %v does not name the entry", name, err)
		}
	}
}

// Crafted counts that would make the decoder allocate gigabytes or loop are
// refused by validation.
func TestValidationRefusesHugeCounts(t *testing.T) {
	b := buildAXML(manifest(24, 34))
	// String pool string count, just after the XML header and pool header.
	c := append([]byte{}, b...)
	c[8+8], c[8+9], c[8+10], c[8+11] = 0xff, 0xff, 0xff, 0x7f
	if _, err := DecodeXML(c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge string count: %v", err)
	}
	// A zero-sized chunk.
	c = append([]byte{}, b...)
	poolSize := int(c[12]) | int(c[13])<<8 | int(c[14])<<16
	off := 8 + poolSize
	c[off+4], c[off+5], c[off+6], c[off+7] = 0, 0, 0, 0
	if _, err := DecodeXML(c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("zero chunk: %v", err)
	}
	tb := buildTable([]string{"xml"}, map[string][]resValue{"xml": {{typ: typeString, str: "res/a.xml"}}})
	for i := 8; i < len(tb); i += 4 {
		c := append([]byte{}, tb...)
		c[i], c[i+1], c[i+2], c[i+3] = 0xff, 0xff, 0xff, 0xff
		if tab, err := DecodeTable(c); err == nil {
			tab.ResolveString("@0x7f010000") // must not panic either
		}
	}
}

func FuzzDecodeXML(f *testing.F) {
	f.Add(buildAXML(manifest(21, 27, boolean("debuggable", true), ref("networkSecurityConfig", resID(1, 0)))))
	f.Add(buildAXML(nscTree()))
	f.Add([]byte{3, 0, 8, 0, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := DecodeXML(b)
		if err == nil && root == nil {
			t.Fatal("nil tree without error")
		}
	})
}

func FuzzDecodeTable(f *testing.F) {
	f.Add(buildTable([]string{"xml", "raw"}, map[string][]resValue{
		"xml": {{typ: typeString, str: "res/zz.xml"}}, "raw": {{typ: typeBoolean, data: 1}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := DecodeTable(b)
		if err == nil {
			tab.ResolveString("@0x7f010000")
			tab.Resolve(0x7f020000)
		}
	})
}

// A sparse table (aapt2 --enable-sparse-encoding) is refused, not misread.
func TestSparseTableRefused(t *testing.T) {
	tb := buildTable([]string{"xml"}, map[string][]resValue{"xml": {{typ: typeString, str: "res/a.xml"}}})
	i := bytes.Index(tb, []byte{0x01, 0x02, 0x54, 0x00}) // ResTable_type chunk, header 84
	if i < 0 {
		t.Fatal("type chunk not found")
	}
	tb[i+9] |= 0x01
	if _, err := DecodeTable(tb); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}
