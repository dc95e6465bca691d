// Package ipa reads an iOS app archive (IPA) in place: the app's Info.plist
// (XML or binary) with its App Transport Security settings,
// NSPinnedDomains and TrustKit configuration, the main executable's Mach-O
// load commands (FairPlay encryption) and the http:// URLs among the
// strings of the executable and bundled resources.
//
// Booleans are read as iOS reads them: real plist booleans or the strings
// "YES"/"NO" (see [Flag]); comparing against the strings only, as some
// scanners do, misses every real binary plist.
package ipa

import (
	"fmt"
	"path"
	"strings"

	"pinset.dev/pinset/scan/archive"
	"pinset.dev/pinset/scan/internal/urls"
)

// MaxExecutable bounds the main executable read for strings.
const MaxExecutable = 512 << 20

// App is everything pinset read from one iOS artifact.
type App struct {
	File        string // as named on the command line
	Format      string // "ipa" or "plist" (a bare Info.plist)
	PlistEntry  string // the Info.plist entry ("" for a bare file)
	PlistFormat string // "xml", "binary", ...
	Info        *Info
	Binary      *Binary // nil for a bare Info.plist
	URLs        []urls.Hit
}

// ReadPlist reads a bare Info.plist.
func ReadPlist(name string, b []byte) (*App, error) {
	info, format, err := ParseInfo(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &App{File: name, Format: "plist", PlistFormat: format, Info: info, URLs: urls.Find(path.Base(name), b)}, nil
}

// Read reads an IPA.
func Read(a *archive.Archive) (*App, error) {
	app := &App{File: a.Name, Format: "ipa"}
	var bundle string
	for _, n := range a.Names() {
		parts := strings.Split(n, "/")
		if len(parts) == 3 && parts[0] == "Payload" && strings.HasSuffix(parts[1], ".app") && parts[2] == "Info.plist" {
			if app.PlistEntry != "" {
				return nil, &archive.Error{File: a.Name, Entry: n, Err: fmt.Errorf("a second app bundle (first: %s)", app.PlistEntry)}
			}
			app.PlistEntry, bundle = n, "Payload/"+parts[1]+"/"
		}
	}
	if app.PlistEntry == "" {
		return nil, &archive.Error{File: a.Name, Err: fmt.Errorf("no Payload/<App>.app/Info.plist: not an IPA")}
	}
	b, err := a.ReadMax(app.PlistEntry, MaxPlist)
	if err != nil {
		return nil, err
	}
	info, format, err := ParseInfo(b)
	if err != nil {
		return nil, &archive.Error{File: a.Name, Entry: app.PlistEntry, Err: err}
	}
	app.Info, app.PlistFormat = info, format
	app.URLs = append(app.URLs, urls.Find(app.PlistEntry, b)...)

	exe := string(info.Executable)
	if exe == "" {
		exe = strings.TrimSuffix(path.Base(bundle), ".app")
	}
	entry := bundle + exe
	app.Binary = &Binary{Entry: entry}
	if strings.Contains(exe, "/") || !a.Has(entry) {
		app.Binary.Err = &archive.Error{File: a.Name, Entry: entry, Err: archive.ErrNotFound}
	} else if eb, err := a.ReadMax(entry, MaxExecutable); err != nil {
		app.Binary.Err = err
	} else {
		if bin, err := ParseMachO(eb); err != nil {
			app.Binary.Err = &archive.Error{File: a.Name, Entry: entry, Err: err}
		} else {
			bin.Entry = entry
			app.Binary = bin
			blank(eb, bin.Signature)
		}
		app.URLs = append(app.URLs, urls.Find(entry, eb)...)
	}
	// Other bundled text: plists, JSON, JS, HTML, strings files, and
	// frameworks' binaries.
	for _, n := range a.Find(func(n string) bool {
		return strings.HasPrefix(n, bundle) && n != entry && n != app.PlistEntry && !strings.HasSuffix(n, "/") && textual(n)
	}) {
		if b, err := a.Read(n); err == nil {
			app.URLs = append(app.URLs, urls.Find(n, b)...)
		}
	}
	return app, nil
}

func textual(n string) bool {
	switch strings.ToLower(path.Ext(n)) {
	case ".plist", ".json", ".js", ".html", ".htm", ".strings", ".xml", ".txt", ".conf", ".cfg", ".dylib", "":
		return true
	}
	return strings.Contains(n, ".framework/") && path.Ext(n) == ""
}
