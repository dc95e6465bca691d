// Package apk reads an Android APK in place: the binary (AXML)
// AndroidManifest.xml, the Network Security Config it references, found by
// resolving android:networkSecurityConfig through resources.arsc (never by
// file name: release builds obfuscate res/ paths), the certificates of @raw
// trust anchors, and the http:// URLs in DEX, resources and assets.
//
// Binary XML and resource tables are decoded by
// github.com/shogo82148/androidbinary after a strict validation pass of ours
// (validate.go) that bounds every size and count.
package apk

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/shogo82148/androidbinary"

	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/archive"
)

// DecodeXML decodes a binary XML document into a tree.
func DecodeXML(b []byte) (*android.Element, error) {
	return decodeGuarded("binary XML", b, validateXML, func(r *bytes.Reader) (*android.Element, error) {
		x, err := androidbinary.NewXMLFile(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(x.Reader()); err != nil {
			return nil, err
		}
		root, err := android.ParseXML(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return root, nil
	})
}

// Table is a decoded resources.arsc.
type Table struct{ t *androidbinary.TableFile }

// DecodeTable decodes a resource table.
func DecodeTable(b []byte) (*Table, error) {
	return decodeGuarded("resource table", b, validateTable, func(r *bytes.Reader) (*Table, error) {
		tf, err := androidbinary.NewTableFile(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return &Table{tf}, nil
	})
}

// decodeGuarded runs androidbinary's decoder of b, after validate has held
// b to the limits the decoder does not check, and turns a panic of the
// decoder into ErrMalformed (the bytes are untrusted).
func decodeGuarded[T any](what string, b []byte, validate func([]byte) error, decode func(*bytes.Reader) (T, error)) (v T, err error) {
	if err := validate(b); err != nil {
		return v, err
	}
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, malformed("%s decoder failed: %v", what, p)
		}
	}()
	return decode(bytes.NewReader(b))
}

// ParseRef reads a reference attribute value as written by the decoder
// ("@0x7F120001").
func ParseRef(v string) (uint32, bool) {
	if !strings.HasPrefix(v, "@0x") && !strings.HasPrefix(v, "@0X") {
		return 0, false
	}
	n, err := strconv.ParseUint(v[3:], 16, 32)
	return uint32(n), err == nil
}

// Resolve returns the value of resource id in the default configuration:
// a string, a bool, or a uint32 (integers, and the target of a reference).
func (t *Table) Resolve(id uint32) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, malformed("resource 0x%08x: %v", id, p)
		}
	}()
	v, err = t.t.GetResource(androidbinary.ResID(id), nil)
	if err != nil {
		return nil, fmt.Errorf("resource 0x%08x: %v", id, err)
	}
	return v, nil
}

// ResolveString resolves a reference that must name a string, such as the
// path of a file resource.
func (t *Table) ResolveString(ref string) (string, error) {
	id, ok := ParseRef(ref)
	if !ok {
		return "", fmt.Errorf("%q is not a resource reference", ref)
	}
	v, err := t.Resolve(id)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("resource %s is not a file path (%v)", ref, v)
	}
	return s, nil
}

// resolveAttrs replaces reference values of the named attributes by their
// boolean or integer value in the table, where it can.
func (t *Table) resolveAttrs(root *android.Element, names ...string) {
	if t == nil {
		return
	}
	root.ResolveAttrs(func(value string) (string, bool) {
		id, ok := ParseRef(value)
		if !ok {
			return "", false
		}
		v, err := t.Resolve(id)
		if err != nil {
			return "", false
		}
		switch x := v.(type) {
		case bool:
			return strconv.FormatBool(x), true
		case uint32:
			return strconv.FormatUint(uint64(x), 10), true
		case string:
			return x, true
		}
		return "", false
	}, names...)
}

// Read reads an APK.
func Read(a *archive.Archive) (*android.App, error) {
	app := &android.App{File: a.Name, Format: "apk", ManifestEntry: "AndroidManifest.xml"}
	mroot, err := android.ReadManifestXML(a, app.ManifestEntry, DecodeXML)
	if err != nil {
		return nil, err
	}
	var table *Table
	var tableErr error
	if a.Has("resources.arsc") {
		tb, err := a.ReadMax("resources.arsc", android.MaxTable)
		if err != nil {
			tableErr = err
		} else if table, err = DecodeTable(tb); err != nil {
			tableErr = &archive.Error{File: a.Name, Entry: "resources.arsc", Err: err}
		}
	} else {
		tableErr = &archive.Error{File: a.Name, Entry: "resources.arsc", Err: archive.ErrNotFound}
	}
	table.resolveAttrs(mroot, android.ManifestRefAttrs...)
	files := android.NSCFiles{Archive: a, TableEntry: "resources.arsc", Entry: table.ResolveString, Decode: DecodeXML, ResolveAttrs: table.resolveAttrs}
	if err := app.ReadManifest(mroot, files, tableErr); err != nil {
		return nil, err
	}
	app.URLs = android.FindURLs(a, func(name string) bool {
		return name == "resources.arsc" || strings.HasSuffix(name, ".dex") ||
			strings.HasPrefix(name, "assets/") || strings.HasPrefix(name, "res/") ||
			strings.HasPrefix(name, "lib/") || name == app.ManifestEntry
	})
	return app, nil
}
