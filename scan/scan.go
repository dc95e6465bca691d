// Package scan reports what a built mobile app really does with TLS,
// against OWASP MASVS-NETWORK, without decompiling or unpacking it.
//
// [File] reads an APK, an AAB, an IPA, a bare Info.plist or a bare Network
// Security Config, through the readers in the subpackages:
//
//   - scan/apk: binary AndroidManifest.xml and the NSC it references,
//     resolved through resources.arsc (never guessed from file names);
//   - scan/aab: the same from an App Bundle's protobuf XML and resources.pb;
//   - scan/ipa: Info.plist (XML or binary; booleans as iOS reads them), ATS,
//     NSPinnedDomains, TrustKit, and the Mach-O executable;
//   - scan/archive: bounded, in-place zip reading (zip bombs, truncation).
//
// [Android] and [IOS] turn what was read into a [Report] of [Finding]s, one
// per [Rule] instance. Each rule has a stable id, a severity, the MASVS
// control and MASTG test it maps to, and a one-line fix; docs/scan.md lists
// them. The clock is [Options.Now], so expired pins are judged against an
// injected date in tests. With [Options.Expected] (a signed pin manifest)
// or [Options.Live] (live chains), embedded pins that match nothing are
// reported too.
//
// Reports render as text ([Report.WriteText]), JSON ([Report.WriteJSON])
// or SARIF 2.1.0 ([WriteSARIF]).
package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"pinset.dev/pinset/scan/aab"
	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/apk"
	"pinset.dev/pinset/scan/archive"
	"pinset.dev/pinset/scan/ipa"
)

// MaxBareFile bounds a bare Info.plist or NSC file.
const MaxBareFile = 8 << 20

// ErrUnknownFormat is returned for files that are none of the formats.
var ErrUnknownFormat = errors.New("not an APK, AAB, IPA, Info.plist or Network Security Config")

// File scans the artifact at path.
func File(path string, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	return Reader(path, f, st.Size(), opts)
}

// Reader scans the artifact of size bytes read from r, named name in the
// report and in errors (a file name, or "stdin").
func Reader(name string, r io.ReaderAt, size int64, opts Options) (*Report, error) {
	head := make([]byte, 512)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	limits := opts.Limits
	if limits == (archive.Limits{}) {
		limits = archive.DefaultLimits
	}
	if bytes.HasPrefix(head, []byte("PK")) || isArchiveExt(name) {
		a, err := archive.New(r, size, name, limits)
		if err != nil {
			return nil, err
		}
		return Archive(a, opts)
	}
	if size > MaxBareFile {
		return nil, fmt.Errorf("%s: %d bytes exceeds the %d-byte limit for a bare file", name, size, MaxBareFile)
	}
	data, err := io.ReadAll(io.NewSectionReader(r, 0, MaxBareFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return Bytes(name, data, opts)
}

func isArchiveExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".apk", ".aab", ".ipa", ".zip":
		return true
	}
	return false
}

// Archive scans an opened zip artifact, telling APK, AAB and IPA apart by
// their entries.
func Archive(a *archive.Archive, opts Options) (*Report, error) {
	switch {
	case a.Has("AndroidManifest.xml"):
		app, err := apk.Read(a)
		if err != nil {
			return nil, err
		}
		return Android(app, opts), nil
	case a.Has(aab.Module + "manifest/AndroidManifest.xml"):
		app, err := aab.Read(a)
		if err != nil {
			return nil, err
		}
		return Android(app, opts), nil
	case len(a.Find(func(n string) bool { return strings.HasPrefix(n, "Payload/") })) > 0:
		app, err := ipa.Read(a)
		if err != nil {
			return nil, err
		}
		return IOS(app, opts), nil
	}
	return nil, &archive.Error{File: a.Name, Err: fmt.Errorf("%w (no AndroidManifest.xml, base/manifest/AndroidManifest.xml or Payload/)", ErrUnknownFormat)}
}

// Bytes scans a bare Info.plist or Network Security Config (plain XML or
// compiled AXML) named name.
func Bytes(name string, data []byte, opts Options) (*Report, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(data, []byte("bplist")) || bytes.Contains(head(trimmed, 1024), []byte("<plist")) ||
		strings.EqualFold(filepath.Ext(name), ".plist"):
		app, err := ipa.ReadPlist(name, data)
		if err != nil {
			return nil, err
		}
		return IOS(app, opts), nil
	case len(data) >= 8 && data[0] == 0x03 && data[1] == 0x00:
		root, err := apk.DecodeXML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return bareNSC(name, root, opts)
	case bytes.HasPrefix(trimmed, []byte("<")):
		root, err := android.ParseXML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return bareNSC(name, root, opts)
	}
	return nil, fmt.Errorf("%s: %w", name, ErrUnknownFormat)
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func bareNSC(name string, root *android.Element, opts Options) (*Report, error) {
	nsc, err := android.ParseNSC(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	nsc.Path = name
	app := &android.App{File: name, Format: "nsc", NSC: nsc}
	// @raw anchors of a bare file cannot be resolved: there is no table.
	android.LoadAnchors(nsc, func(ref string) (string, []byte, error) {
		return "", nil, fmt.Errorf("%s is a resource of the app; scan the APK or AAB to check it", ref)
	})
	return Android(app, opts), nil
}
