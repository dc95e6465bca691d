package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/trust"
)

// TestPublishMirror: `pinset publish --mirror DIR` writes the documents
// under the API's paths without a service, verified as the service would
// (an older manifest is refused and the mirror keeps its files), and says
// that the publish gate did not run.
func TestPublishMirror(t *testing.T) {
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	repo, rootFile := freshRepo(t, dir)
	m1 := writeFile(t, dir, "pins-v1.json", repo.PublishManifest(nil))
	out, errOut, err := pinsetRun(t, nil, "publish", "--mirror", www, rootFile, m1)
	if err != nil || !strings.Contains(out, " manifest v") || !strings.Contains(out, "written to") || !strings.Contains(errOut, "the publish gate did not run") {
		t.Fatalf("publish --mirror: %v\n%s\n%s", err, out, errOut)
	}
	app := repo.ManifestDoc().AppID
	file := func(p string) []byte {
		b, _ := os.ReadFile(filepath.Join(www, "v1", "apps", app, p))
		return b
	}
	root, _ := os.ReadFile(rootFile)
	manifest, _ := os.ReadFile(m1)
	if !bytes.Equal(file("root.json"), root) || !bytes.Equal(file(fmt.Sprintf("roots/%d.json", repo.RootVersion())), root) || !bytes.Equal(file("pins.json"), manifest) {
		t.Fatal("the mirror does not hold the published bytes")
	}
	m2 := writeFile(t, dir, "pins-v2.json", repo.PublishManifest(func(m *trust.Manifest) {}))
	if _, errOut, err := pinsetRun(t, nil, "publish", "--mirror", www, m2); err != nil {
		t.Fatal(errOut)
	}
	if _, errOut, err := pinsetRun(t, nil, "publish", "--mirror", www, m1); err == nil || !strings.Contains(errOut, "lower than the trusted version") {
		t.Fatalf("rollback into the mirror: %v %s", err, errOut)
	}
	if b, _ := os.ReadFile(m2); !bytes.Equal(file("pins.json"), b) {
		t.Error("a refused manifest changed the mirror")
	}
}
