package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/trust"
)

// trustRunCLI runs pinset in-process with the clock at now.
func trustRunCLI(t *testing.T, now time.Time, args ...string) (int, string, string) {
	t.Helper()
	old := trustNow
	trustNow = func() time.Time { return now }
	defer func() { trustNow = old }()
	return runCLI(t, args...)
}

func TestTrustCommandsClock(t *testing.T) {
	dir := t.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(now time.Time, args ...string) (int, string, string) { return trustRunCLI(t, now, args...) }
	for _, k := range []string{"r1", "r2", "p"} {
		if code, _, errs := run(t0, "key", "new", at(k)); code != 0 {
			t.Fatal(errs)
		}
	}
	fi, err := os.Stat(at("r1.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v (%v)", fi.Mode().Perm(), err)
	}
	if code, _, errs := run(t0, "root", "new", "--app", "com.example.app", "--root-key", at("r1.pub"), "--root-key", at("r2.pub"),
		"--pins-key", at("p.pub"), "--expires", "365d", "-o", at("root.json")); code != 0 {
		t.Fatal(errs)
	}
	run(t0, "sign", "--key", at("r1.key"), "--key", at("r1.key"), at("root.json"))
	if code, _, errs := run(t0, "verify", "--root", at("root.json")); code == 0 || !strings.Contains(errs, "threshold not met: 1 of 2 root signatures") {
		t.Fatalf("1 of 2: %d %s", code, errs)
	}
	run(t0, "sign", "--key", at("r2.key"), at("root.json"))
	if code, _, errs := run(t0, "manifest", "new", "--root", at("root.json"), "--version", "1", "--expires", "30d",
		"--host", "api.example.com="+strings.Repeat("C", 42)+"A=,"+strings.Repeat("D", 42)+"A=", "-o", at("pins.json")); code != 0 {
		t.Fatal(errs)
	}
	run(t0, "sign", "--key", at("p.key"), at("pins.json"))
	m, err := trust.DecodeManifestUnverified(mustRead(t, at("pins.json")))
	if err != nil || !m.IssuedAt.Equal(t0) || !m.Expires.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("manifest times from the injected clock: %+v %v", m, err)
	}
	if code, out, errs := run(t0.Add(24*time.Hour), "verify", "--root", at("root.json"), at("pins.json")); code != 0 || !strings.Contains(out, "expires 2026-03-31T12:00:00Z") {
		t.Fatalf("fresh: %d %s %s", code, out, errs)
	}
	code, _, errs := run(t0.Add(31*24*time.Hour), "verify", "--root", at("root.json"), at("pins.json"))
	if code == 0 || !strings.Contains(errs, "pins.json: manifest v1 expired at 2026-03-31T12:00:00Z") {
		t.Fatalf("expired manifest: %d %s", code, errs)
	}
	code, _, errs = run(t0.Add(400*24*time.Hour), "verify", "--root", at("root.json"))
	if code == 0 || !strings.Contains(errs, "root.json: root v1 expired") {
		t.Fatalf("expired root: %d %s", code, errs)
	}
	code, out, _ := run(t0.Add(31*24*time.Hour), "verify", "--json", "--root", at("root.json"), at("pins.json"))
	if code == 0 || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, "expired") {
		t.Fatalf("--json failure: %d %s", code, out)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
