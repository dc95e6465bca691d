package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/tlog"
)

// TestWitnessCommand: pinset witness key prints a cosignature/v1 key for
// roots and serve; pinset witness refuses to run without a state file or
// with a group-readable key.
func TestWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "key", "new", filepath.Join(dir, "witness"), "--alg", "ed25519"); code != 0 {
		t.Fatal(errOut)
	}
	key := filepath.Join(dir, "witness.key")
	code, out, errOut := runCLI(t, "witness", "key", "--key", key, "--name", "witness.example.test/w1")
	if code != 0 {
		t.Fatal(errOut)
	}
	if _, err := tlog.ParseWitnessKey(strings.TrimSpace(out)); err != nil || !strings.HasPrefix(out, "witness.example.test/w1+") {
		t.Fatalf("witness key %q: %v", out, err)
	}
	if code, _, errOut := runCLI(t, "witness", "--key", key, "--name", "w1", "--log", "x"); code == 0 || !strings.Contains(errOut, "--state") {
		t.Fatalf("no state: %d %s", code, errOut)
	}
	os.Chmod(key, 0o640)
	if code, _, errOut := runCLI(t, "witness", "key", "--key", key, "--name", "w1"); code == 0 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("group-readable key: %d %s", code, errOut)
	}
}
