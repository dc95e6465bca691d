package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoCommand runs `pinset demo` as a user would.
func TestDemoCommand(t *testing.T) {
	if code := run([]string{"demo"}); code != 0 {
		t.Fatalf("pinset demo exited %d", code)
	}
}

// TestDemoCommandKeep keeps the files, with private keys at 0600, and the
// inspection commands the demo prints work on them.
func TestDemoCommandKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	code, out, stderr := runCLI(t, "demo", "--keep", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, name := range []string{"root-a.key", "root-b.key", "root-c.key", "pins.key", "backend-1.key", "backend-2.key", "backend-3.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	for _, args := range [][]string{
		{"inspect", filepath.Join(dir, "root.json")},
		{"inspect", filepath.Join(dir, "pins-v2.json")},
		{"verify", "--root", filepath.Join(dir, "root.json"), filepath.Join(dir, "pins-v2.json")},
		{"pin", filepath.Join(dir, "backend-2.pem"), filepath.Join(dir, "backend-3.pub")},
	} {
		if !strings.Contains(out, "pinset "+strings.Join(args, " ")) {
			t.Errorf("the demo does not print %q", "pinset "+strings.Join(args, " "))
		}
		if code, o, e := runCLI(t, args...); code != 0 {
			t.Errorf("pinset %s: exit %d\n%s%s", strings.Join(args, " "), code, o, e)
		}
	}

	// The directory is not reused.
	code, _, stderr = runCLI(t, "demo", "--keep", dir)
	if code == 0 || !strings.Contains(stderr, "not empty") {
		t.Errorf("second run in %s: exit %d, %q", dir, code, stderr)
	}
}

// TestDemoCommandJSON prints the steps as JSON for scripts.
func TestDemoCommandJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "demo", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var res struct {
		Steps []struct {
			Step     int    `json:"step"`
			Observed string `json:"observed"`
			OK       bool   `json:"ok"`
		} `json:"steps"`
		Kept bool `json:"kept"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Steps) != 8 || res.Kept {
		t.Fatalf("%+v", res)
	}
	for _, s := range res.Steps {
		if !s.OK || s.Observed == "" {
			t.Errorf("step %d: %+v", s.Step, s)
		}
	}
}
