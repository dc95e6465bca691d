package apk

import (
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/scan/archive"
)

// TestNSCWithoutTable: a manifest naming its Network Security Config by
// reference, in an APK without resources.arsc, reads; the config is not
// resolved, and NSCErr says why (never silently no config).
func TestNSCWithoutTable(t *testing.T) {
	files := map[string][]byte{
		"AndroidManifest.xml": buildAXML(manifest(24, 34, ref("networkSecurityConfig", resID(1, 5)))),
	}
	app, err := Read(openZip(t, buildZip(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if app.Manifest == nil || app.NSC != nil || app.NSCEntry != "" || !errors.Is(app.NSCErr, archive.ErrNotFound) ||
		!strings.Contains(app.NSCErr.Error(), "cannot resolve") || !strings.Contains(app.NSCErr.Error(), "resources.arsc") {
		t.Fatalf("manifest %v, NSC %v at %q, err %v", app.Manifest, app.NSC, app.NSCEntry, app.NSCErr)
	}
}
