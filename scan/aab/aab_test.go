package aab

import (
	"archive/zip"
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/archive"
)

// Builders of aapt2 protobuf messages, with the field numbers of
// Resources.proto.

func msg(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

func bytesField(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func strField(num protowire.Number, s string) []byte { return bytesField(num, []byte(s)) }

func varintField(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

type pAttr struct {
	name, value string
	compiled    []byte // an Item
}

func boolItem(v bool) []byte {
	n := uint64(0)
	if v {
		n = 1
	}
	return bytesField(itemPrim, varintField(primBoolean, n))
}
func intItem(v int) []byte     { return bytesField(itemPrim, varintField(primIntDecimal, uint64(v))) }
func refItem(id uint32) []byte { return bytesField(itemRef, varintField(refID, uint64(id))) }

func element(name string, attrs []pAttr, children ...[]byte) []byte {
	var fields [][]byte
	fields = append(fields, strField(xmlElementName, name))
	for _, a := range attrs {
		af := msg(strField(xmlAttrNS, android.NS), strField(xmlAttrName, a.name), strField(xmlAttrValue, a.value))
		if a.compiled != nil {
			af = append(af, bytesField(xmlAttrCompiled, a.compiled)...)
		}
		fields = append(fields, bytesField(xmlElementAttr, af))
	}
	for _, c := range children {
		fields = append(fields, bytesField(xmlElementChild, c))
	}
	return bytesField(xmlNodeElement, msg(fields...)) // an XmlNode
}

func text(s string) []byte { return strField(xmlNodeText, s) }

func manifestNode(nscRef uint32) []byte {
	app := []pAttr{{name: "debuggable", value: "true", compiled: boolItem(true)}}
	if nscRef != 0 {
		app = append(app, pAttr{name: "networkSecurityConfig", value: "@xml/nsc", compiled: refItem(nscRef)})
	}
	return element("manifest", nil,
		element("uses-sdk", []pAttr{{name: "minSdkVersion", value: "21", compiled: intItem(21)}, {name: "targetSdkVersion", value: "33", compiled: intItem(33)}}),
		element("application", app))
}

func nscNode() []byte {
	return element("network-security-config", nil,
		element("domain-config", []pAttr{{name: "cleartextTrafficPermitted", value: "true", compiled: boolItem(true)}},
			element("domain", []pAttr{{name: "includeSubdomains", value: "true", compiled: boolItem(true)}}, text("api.example.com")),
			element("pin-set", nil,
				element("pin", []pAttr{{name: "digest", value: "SHA-256"}}, text("r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=")))))
}

// tableWithFile builds a resources.pb where package 0x7f, type 1 ("xml"),
// entry 0 is a file at path.
func tableWithFile(path string) []byte {
	file := bytesField(itemFile, strField(fileRefPath, path))
	value := bytesField(valueItem, file)
	cv := bytesField(entryConfig, msg(bytesField(configValueConfig, nil), bytesField(configValueValue, value)))
	entry := msg(bytesField(entryID, varintField(idField, 0)), strField(entryName, "nsc"), cv)
	typ := msg(bytesField(typeID, varintField(idField, 1)), strField(typeName, "xml"), bytesField(typeEntry, entry))
	pkg := msg(bytesField(pkgID, varintField(idField, 0x7f)), bytesField(pkgType, typ))
	return bytesField(tablePackage, pkg)
}

func zipOf(t *testing.T, files map[string][]byte) *archive.Archive {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for n, d := range files {
		f, _ := w.Create(n)
		f.Write(d)
	}
	w.Close()
	a, err := archive.New(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "app.aab", archive.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRead(t *testing.T) {
	a := zipOf(t, map[string][]byte{
		"base/manifest/AndroidManifest.xml": manifestNode(0x7f010000),
		"base/resources.pb":                 tableWithFile("res/x9.xml"),
		"base/res/x9.xml":                   nscNode(),
		"base/dex/classes.dex":              []byte("\x00http://cdn.example.org/a.js\x00"),
	})
	app, err := Read(a)
	if err != nil {
		t.Fatal(err)
	}
	m := app.Manifest
	if m.MinSDK != 21 || m.TargetSDK != 33 || !m.Debuggable {
		t.Fatalf("manifest %+v", m)
	}
	if app.NSCEntry != "base/res/x9.xml" || app.NSC == nil {
		t.Fatalf("NSC %q: %v", app.NSCEntry, app.NSCErr)
	}
	d := app.NSC.Domains[0]
	if d.Domains[0].Name != "api.example.com" || !d.Domains[0].IncludeSubdomains || d.Cleartext == nil || !*d.Cleartext {
		t.Fatalf("domain-config %+v", d)
	}
	if len(d.PinSet.Pins) != 1 || len(app.NSC.Refusals) != 0 {
		t.Fatalf("pins %+v", d.PinSet.Pins)
	}
	if len(app.URLs) != 1 || app.URLs[0].URL != "http://cdn.example.org/a.js" {
		t.Fatalf("URLs %+v", app.URLs)
	}
}

func TestMalformed(t *testing.T) {
	good := manifestNode(0)
	for name, b := range map[string][]byte{
		"truncated":  good[:len(good)-3],
		"bad tag":    {0x00},
		"group":      {0x0b},
		"wrong type": varintField(xmlNodeElement, 5),
	} {
		if _, err := DecodeXML(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nesting beyond the limit.
	deep := element("x", nil)
	for range MaxDepth + 2 {
		deep = element("x", nil, deep)
	}
	if _, err := DecodeXML(deep); !errors.Is(err, android.ErrTooDeep) {
		t.Fatalf("deep: %v", err)
	}
	a := zipOf(t, map[string][]byte{"base/manifest/AndroidManifest.xml": good[:10]})
	_, err := Read(a)
	var ae *archive.Error
	if !errors.As(err, &ae) || ae.Entry != "base/manifest/AndroidManifest.xml" {
		t.Fatalf("error %v does not name the entry", err)
	}
}

func FuzzDecodeXML(f *testing.F) {
	f.Add(manifestNode(0x7f010000))
	f.Add(nscNode())
	f.Add(tableWithFile("res/a.xml"))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := DecodeXML(b)
		if err == nil && root == nil {
			t.Fatal("nil tree without error")
		}
		if tab, err := DecodeTable(b); err == nil {
			tab.Resolve("@0x7f010000")
		}
	})
}
