package android

import "pinset.dev/pinset/scan/internal/urls"

// App is everything pinset read from one Android artifact.
type App struct {
	File   string // the artifact as named on the command line
	Format string // "apk", "aab" or "nsc" (a bare Network Security Config)

	ManifestEntry string // entry the manifest was read from
	Manifest      *Manifest

	// NSCEntry is the entry the Network Security Config was resolved to
	// through the resource table; NSC is it parsed. NSCErr says why a
	// referenced config could not be resolved or parsed.
	NSCEntry string
	NSC      *NSC
	NSCErr   error

	URLs []urls.Hit
}
