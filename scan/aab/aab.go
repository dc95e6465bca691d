// Package aab reads an Android App Bundle in place, without converting it
// to an APK first: the manifest and res/xml files are aapt2's protobuf XML
// (Resources.proto XmlNode) and the resource table is resources.pb, both
// decoded here field by field with google.golang.org/protobuf's protowire.
// The Network Security Config is found by resolving the manifest's
// android:networkSecurityConfig reference through resources.pb, as for an
// APK.
package aab

import (
	"path"
	"strings"

	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/archive"
)

// Module is the bundle's base module directory.
const Module = "base/"

// Read reads the base module of an AAB.
func Read(a *archive.Archive) (*android.App, error) {
	app := &android.App{File: a.Name, Format: "aab", ManifestEntry: Module + "manifest/AndroidManifest.xml"}
	mroot, err := android.ReadManifestXML(a, app.ManifestEntry, DecodeXML)
	if err != nil {
		return nil, err
	}
	tableEntry := Module + "resources.pb"
	var table *Table
	var tableErr error
	if tb, err := a.ReadMax(tableEntry, android.MaxTable); err != nil {
		tableErr = err
	} else if table, err = DecodeTable(tb); err != nil {
		tableErr = &archive.Error{File: a.Name, Entry: tableEntry, Err: err}
	}
	table.resolveAttrs(mroot, android.ManifestRefAttrs...)
	files := android.NSCFiles{Archive: a, TableEntry: tableEntry, Entry: table.entryOf, Decode: DecodeXML, ResolveAttrs: table.resolveAttrs}
	if err := app.ReadManifest(mroot, files, tableErr); err != nil {
		return nil, err
	}
	app.URLs = android.FindURLs(a, func(name string) bool {
		return strings.HasSuffix(name, ".dex") || strings.Contains(name, "/assets/") ||
			strings.Contains(name, "/res/") || strings.Contains(name, "/lib/") ||
			strings.HasSuffix(name, "/resources.pb") || strings.HasSuffix(name, "/AndroidManifest.xml")
	})
	return app, nil
}

// entryOf is the base module's entry a resource reference resolves to.
func (t *Table) entryOf(ref string) (string, error) {
	f, err := t.Resolve(ref)
	if err != nil {
		return "", err
	}
	return Module + strings.TrimPrefix(path.Clean(f), "/"), nil
}

func (t *Table) resolveAttrs(root *android.Element, names ...string) {
	if t == nil {
		return
	}
	root.ResolveAttrs(func(value string) (string, bool) {
		if !strings.HasPrefix(value, "@") {
			return "", false
		}
		v, err := t.Resolve(value)
		return v, err == nil
	}, names...)
}
