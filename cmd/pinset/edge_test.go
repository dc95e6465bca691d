package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEdgeConfigRefused: pinset edge names an unknown key and its line,
// and a missing --config, before starting anything.
func TestEdgeConfigRefused(t *testing.T) {
	name := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(name, []byte("listen: 127.0.0.1:0\nrotues: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "edge", "--config", name)
	if code == 0 || !strings.Contains(errs, `line 2: unknown key "rotues"`) {
		t.Errorf("exit %d, stderr %q: want the unknown key named", code, errs)
	}
	if code, _, errs := runCLI(t, "edge"); code == 0 || !strings.Contains(errs, "config") {
		t.Errorf("no --config: exit %d, %q", code, errs)
	}
}
