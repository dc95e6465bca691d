package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// checkFixture writes a CA file, a root and a manifest pinning the live
// key and a backup key, and starts three addresses, the third of which
// serves a rotated key.
func checkFixture(t *testing.T, pins ...string) (dir string, f *checktest.Fleet, w *checktest.World) {
	// The command verifies at the wall clock: issue certificates now.
	w = checktest.NewWorldAt(t, "api.example.test", time.Now().UTC().Truncate(time.Second))
	live := w.Leaf("live", 60*24*time.Hour)
	f = checktest.NewFleet(t, "api.example.test", live, live, w.Leaf("rotated", 60*24*time.Hour))
	var ps []pin.Pin
	for _, p := range pins {
		ps = append(ps, w.Pin(p))
	}
	rootDoc, manifest := w.Documents(1, []policy.Policy{{Pattern: "api.example.test", Pins: ps}})
	dir = t.TempDir()
	for name, b := range map[string][]byte{"ca.pem": pki.CertPEM(w.Root.Cert), "root.json": rootDoc, "pins.json": manifest} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, f, w
}

func TestCheckCommandNamesRotatedAddress(t *testing.T) {
	dir, f, w := checkFixture(t, "live", "backup")
	args := append([]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--root", filepath.Join(dir, "root.json"),
		"--cafile", filepath.Join(dir, "ca.pem"), "--timeout", "5s", "--port", strconv.Itoa(f.Port)}, f.ResolveFlags()...)

	code, out, stderr := runCLI(t, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	var refusedLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "refused") && strings.HasPrefix(l, "api.example.test") {
			refusedLines = append(refusedLines, l)
		}
	}
	if len(refusedLines) != 1 || !strings.Contains(refusedLines[0], f.Address(2)) {
		t.Fatalf("want exactly %s refused, table:\n%s", f.Address(2), out)
	}
	if !strings.Contains(out, w.Pin("rotated").Format(pin.OkHttp)) || !strings.Contains(stderr, "clients would refuse 1 address") {
		t.Fatalf("output does not name the rotated key:\n%s\n%s", out, stderr)
	}

	// JSON: the same verdicts, machine-readable.
	code, out, _ = runCLI(t, append(args, "--json")...)
	var rep check.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, out)
	}
	for i, a := range rep.Hosts[0].Addresses {
		if (a.Verdict == check.RefusedPin) != (i == 2) || a.Address != f.Address(i) {
			t.Fatalf("address %d: %+v", i, a)
		}
	}

	// Only the covered addresses, named explicitly: exit 0.
	ok := []string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--cafile", filepath.Join(dir, "ca.pem"),
		"--resolve", "api.example.test:" + strconv.Itoa(f.Port) + ":" + f.Addrs[0], f.Target()}
	code, out, stderr = runCLI(t, ok...)
	if code != 0 || !strings.Contains(stderr, "signatures not verified") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
}

func TestCheckCommandCoveringManifestPasses(t *testing.T) {
	dir, f, _ := checkFixture(t, "live", "rotated", "backup")
	args := append([]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--root", filepath.Join(dir, "root.json"),
		"--cafile", filepath.Join(dir, "ca.pem"), "--port", strconv.Itoa(f.Port)}, f.ResolveFlags()...)
	code, out, stderr := runCLI(t, args...)
	if code != 0 || !strings.Contains(out, "3 addresses of 1 host: 3 accepted") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	// A node going down makes the run incomplete: exit 2.
	f.Stop(1)
	code, out, _ = runCLI(t, args...)
	if code != 2 || !strings.Contains(out, "unreachable") {
		t.Fatalf("exit %d after a node stopped\n%s", code, out)
	}
}

func TestCheckCommandBadInput(t *testing.T) {
	dir, _, _ := checkFixture(t, "live", "backup")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"payloadType":`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, `required flag(s) "manifest"`},
		{[]string{"check", "--manifest", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"check", "--manifest", bad}, "bad.json"},
		{[]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--resolve", "api.example.test:443"}, "HOST:PORT:ADDR"},
		{[]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--expiry-warning", "soon"}, "--expiry-warning"},
		{[]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--cafile", filepath.Join(dir, "pins.json")}, "no PEM CERTIFICATE"},
		{[]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "--root", filepath.Join(dir, "pins.json")}, "pins.json"},
		{[]string{"check", "--manifest", filepath.Join(dir, "pins.json"), "api.example.test:0"}, "port"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 2 {
			t.Errorf("%v: exit %d, stderr %q (want %q)", tc.args, code, stderr, tc.want)
		}
	}
}

func TestManifestNewCheckGate(t *testing.T) {
	dir, f, w := checkFixture(t, "live", "backup")
	out := filepath.Join(dir, "v2.json")
	base := append([]string{"manifest", "new", "--root", filepath.Join(dir, "root.json"), "--version", "2", "-o", out,
		"--check", "--cafile", filepath.Join(dir, "ca.pem"), "--port", strconv.Itoa(f.Port)}, f.ResolveFlags()...)
	omits := "api.example.test=" + w.Pin("live").String() + "," + w.Pin("backup").String()

	code, _, stderr := runCLI(t, append(base, "--host", omits)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	for _, want := range []string{"api.example.test", f.Address(2), w.Pin("rotated").Format(pin.OkHttp), "--force-check"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("refusal does not name %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, f.Address(0)+" serves") {
		t.Errorf("refusal names a covered address:\n%s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a refused manifest was written")
	}

	// Forced: written, with a warning.
	code, _, stderr = runCLI(t, append(base, "--host", omits, "--force-check")...)
	if code != 0 || !strings.Contains(stderr, "--force-check") {
		t.Fatalf("forced: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	os.Remove(out)

	// Covering every address: accepted without force.
	covers := omits + "," + w.Pin("rotated").String()
	code, _, stderr = runCLI(t, append(base, "--host", covers)...)
	if code != 0 || !strings.Contains(stderr, "3 accepted") {
		t.Fatalf("covering manifest: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCommandWildcardOnly(t *testing.T) {
	w := checktest.NewWorldAt(t, "api.example.test", time.Now().UTC().Truncate(time.Second))
	_, manifest := w.Documents(1, []policy.Policy{{Pattern: "*.example.test", Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}})
	p := filepath.Join(t.TempDir(), "pins.json")
	if err := os.WriteFile(p, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "check", "--manifest", p)
	if code != 2 || !strings.Contains(stderr, "nothing to check") || !strings.Contains(stderr, "hint: name the hosts") || !strings.Contains(out, "*.example.test: not probed") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
}
