package android

import (
	"fmt"
	"path"
	"strings"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/scan/archive"
	"pinset.dev/pinset/scan/internal/urls"
)

// Per-entry limits of an APK or AAB, far above real files: the manifest,
// the resource table, an XML resource and a certificate file.
const (
	MaxManifest = 8 << 20
	MaxTable    = 128 << 20
	MaxXML      = 8 << 20
	MaxCert     = 1 << 20
)

// ReadManifestXML reads an app's manifest entry (at most MaxManifest
// bytes) and decodes it with decode (binary XML or protobuf); a decoding
// error names the archive and the entry.
func ReadManifestXML(a *archive.Archive, entry string, decode func([]byte) (*Element, error)) (*Element, error) {
	b, err := a.ReadMax(entry, MaxManifest)
	if err != nil {
		return nil, err
	}
	root, err := decode(b)
	if err != nil {
		return nil, &archive.Error{File: a.Name, Entry: entry, Err: err}
	}
	return root, nil
}

// ManifestRefAttrs are the manifest attributes whose resource references
// (@bool/..., @integer/...) are resolved through the app's resource table
// before ParseManifest reads them.
var ManifestRefAttrs = []string{"debuggable", "usesCleartextTraffic", "minSdkVersion", "targetSdkVersion"}

// ParseManifestIn is ParseManifest of the manifest entry of archive a; its
// error names the archive and the entry.
func ParseManifestIn(a *archive.Archive, entry string, root *Element) (*Manifest, error) {
	m, err := ParseManifest(root)
	if err != nil {
		return nil, &archive.Error{File: a.Name, Entry: entry, Err: err}
	}
	return m, nil
}

// ReadManifest parses the app's decoded manifest (root, its references
// resolved) into app.Manifest and, when it names a Network Security
// Config, loads that through files into app.NSCEntry, app.NSC and
// app.NSCErr. tableErr says why the resource table could not be read: the
// config is then not resolved, and NSCErr says so.
func (app *App) ReadManifest(root *Element, files NSCFiles, tableErr error) error {
	m, err := ParseManifestIn(files.Archive, app.ManifestEntry, root)
	if err != nil {
		return err
	}
	app.Manifest = m
	ref := m.NetworkSecurityConfig
	switch {
	case ref == "":
	case tableErr != nil:
		app.NSCErr = fmt.Errorf("cannot resolve %s: %w", ref, tableErr)
	default:
		app.NSCEntry, app.NSC, app.NSCErr = LoadNSC(files, ref)
	}
	return nil
}

// What APK and AAB share once their XML and resource tables are decoded:
// the certificates of @raw trust anchors and the URLs of the entries.

// LoadAnchors reads the certificates of every @raw trust anchor in nsc
// through load, which maps the anchor's reference to a file and its bytes.
func LoadAnchors(nsc *NSC, load func(ref string) (string, []byte, error)) {
	each := func(c *Config) {
		if c == nil {
			return
		}
		for i := range c.Anchors {
			an := &c.Anchors[i]
			if !an.IsRaw() || an.File != "" || an.Err != nil {
				continue
			}
			file, b, err := load(an.Src)
			an.File = file
			if err != nil {
				an.Err = err
				continue
			}
			an.Certs, an.Err = pin.ParseItems(b, path.Base(file))
		}
	}
	each(nsc.Base)
	each(nsc.Debug)
	for _, d := range nsc.Domains {
		each(d)
	}
}

// FindURLs scans the entries selected by want for http:// URLs, skipping
// what cannot be read within the limits.
func FindURLs(a *archive.Archive, want func(string) bool) []urls.Hit {
	var hits []urls.Hit
	for _, name := range a.Find(want) {
		if strings.HasSuffix(name, "/") || media(name) {
			continue
		}
		b, err := a.Read(name)
		if err != nil {
			continue
		}
		hits = append(hits, urls.Find(name, b)...)
	}
	return hits
}

func media(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp3", ".mp4", ".ogg", ".wav", ".ttf", ".otf", ".9.png", ".car", ".nib", ".storyboardc":
		return true
	}
	return false
}

// NSCFiles is how one artifact format reaches the files of its network
// security configuration: APK and AAB differ only in how a resource
// reference becomes an entry and how XML is encoded.
type NSCFiles struct {
	Archive *archive.Archive
	// TableEntry names the resource table in errors.
	TableEntry string
	// Entry maps a resource reference (@xml/..., @raw/...) to an entry.
	Entry func(ref string) (string, error)
	// Decode decodes the format's XML (binary XML, protobuf XML).
	Decode func(b []byte) (*Element, error)
	// ResolveAttrs replaces references in the named attributes by their
	// values in the resource table.
	ResolveAttrs func(root *Element, names ...string)
}

// LoadNSC reads the configuration ref names (ParseNSC) and the
// certificates of its @raw anchors (LoadAnchors), for APK and AAB alike.
// It returns the entry read; errors name the archive and the entry.
func LoadNSC(f NSCFiles, ref string) (string, *NSC, error) {
	a := f.Archive
	entry, err := f.Entry(ref)
	if err != nil {
		return "", nil, &archive.Error{File: a.Name, Entry: f.TableEntry, Err: err}
	}
	b, err := a.ReadMax(entry, MaxXML)
	if err != nil {
		return entry, nil, err
	}
	root, err := f.Decode(b)
	if err != nil {
		return entry, nil, &archive.Error{File: a.Name, Entry: entry, Err: err}
	}
	f.ResolveAttrs(root, "cleartextTrafficPermitted", "overridePins", "includeSubdomains")
	nsc, err := ParseNSC(root)
	if err != nil {
		return entry, nil, &archive.Error{File: a.Name, Entry: entry, Err: err}
	}
	nsc.Path = entry
	LoadAnchors(nsc, func(ref string) (string, []byte, error) {
		e, err := f.Entry(ref)
		if err != nil {
			return "", nil, err
		}
		b, err := a.ReadMax(e, MaxCert)
		return e, b, err
	})
	return entry, nsc, nil
}
