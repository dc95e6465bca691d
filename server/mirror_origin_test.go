package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"pinset.dev/pinset/server/mirror"
)

// TestMirrorPublications: with Config.Mirror every publication (root,
// manifest, a rotated root and the manifest under it) lands in the static
// origin under the API's paths, byte for byte what the service serves; a
// mirror that fails to write is logged and counted, the publication
// stands; Serve's start writes what the mirror misses.
func TestMirrorPublications(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "www")
	e := newEnv(t, func(c *Config) { c.Mirror = &mirror.Dir{Root: dir, Now: c.Now} })
	file := func(p string) []byte {
		b, _ := os.ReadFile(filepath.Join(dir, "v1", "apps", "shop", p))
		return b
	}
	same := func(p string) {
		t.Helper()
		served := e.do("GET", "/v1/apps/shop/"+p, nil)
		if served.code != 200 || !bytes.Equal(file(p), served.body) {
			t.Errorf("%s: the mirror holds %d bytes, the service serves %d (%d)", p, len(file(p)), len(served.body), served.code)
		}
	}
	e.mustPublish("root", e.repo.Root())
	same("root.json")
	same("roots/1.json")
	if file("pins.json") != nil {
		t.Error("pins.json before any manifest")
	}
	e.mustPublish("pins", e.repo.Manifest())
	same("pins.json")
	e.mustPublish("root", e.repo.RotatePinsKeys(1, 1))
	e.mustPublish("pins", e.repo.PublishManifest(nil))
	for _, p := range []string{"root.json", "roots/1.json", "roots/2.json", "pins.json"} {
		same(p)
	}

	// A mirror that cannot be written: the publication stands, the
	// failure is counted.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory was
		t.Fatal(err)
	}
	e.mustPublish("pins", e.repo.PublishManifest(nil))
	if m := e.do("GET", "/metrics", nil); !bytes.Contains(m.body, []byte(`pinset_mirror_writes_total{result="error"} 1`)) {
		t.Errorf("mirror failure not counted:\n%s", m.body)
	}
	if !bytes.Contains([]byte(e.logs.String()), []byte("mirror not written")) {
		t.Error("mirror failure not logged")
	}
	// Serve's start writes it all again.
	os.Remove(dir)
	e.srv.syncMirror(context.Background())
	for _, p := range []string{"root.json", "roots/1.json", "roots/2.json", "pins.json"} {
		same(p)
	}
}

// TestMirrorNotWithLog: a static origin cannot carry the transparency
// log's per-client proofs, so the two are refused together.
func TestMirrorNotWithLog(t *testing.T) {
	st := newEnv(t, nil).st
	if _, err := New(Config{Store: st, Mirror: &mirror.Dir{Root: t.TempDir()}, Log: &LogConfig{}}); err == nil {
		t.Error("mirror and log accepted together")
	}
}
