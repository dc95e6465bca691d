package android

import (
	"path"
	"strings"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/scan/archive"
	"pinset.dev/pinset/scan/internal/urls"
)

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
