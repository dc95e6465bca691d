package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type simOut struct {
	BrickedInstalls int64            `json:"bricked_installs"`
	BrickedHours    int64            `json:"bricked_install_hours"`
	Healed          int64            `json:"healed_requests"`
	SwitchHour      int              `json:"switch_hour"`
	AnnouncedHour   int              `json:"announced_hour"`
	Causes          map[string]int64 `json:"bricked_causes"`
}

func simulate(t *testing.T, args ...string) simOut {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"simulate", "--installs", "20000", "--days", "45", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r simOut
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// --gate off switches a day after the announcement; installs that had no
// session since come back holding pins that refuse the new key, and the
// self-heal (a refresh, then a second handshake) rescues those whose
// refresh succeeds. What the default plan still bricks is only installs
// whose heal refresh failed (the default 2 % fetch failures), each for
// one hour; without fetch failures it bricks none (docs/rotation.md,
// "Simulation").
func TestSimulateGate(t *testing.T) {
	off := simulate(t, "--gate", "off")
	on := simulate(t)
	if off.SwitchHour != off.AnnouncedHour+24 || off.BrickedInstalls == 0 {
		t.Fatalf("gate off: switch at %d (announced %d), bricked %d", off.SwitchHour, off.AnnouncedHour, off.BrickedInstalls)
	}
	if on.BrickedInstalls*2 >= off.BrickedInstalls {
		t.Fatalf("gate on bricked %d, gate off %d", on.BrickedInstalls, off.BrickedInstalls)
	}
	const healFailed = "a request refused under the pins held; the self-heal's refresh failed (fetch failure)"
	if on.Healed == 0 || on.Causes[healFailed] != on.BrickedInstalls || on.BrickedHours != on.BrickedInstalls {
		t.Fatalf("gate on: healed %d, bricked %d in %d install-hours, causes %v", on.Healed, on.BrickedInstalls, on.BrickedHours, on.Causes)
	}
	cfg := filepath.Join(t.TempDir(), "nofail.yaml")
	os.WriteFile(cfg, []byte("fetch_failure_rate: 0\n"), 0o644)
	if r := simulate(t, "--config", cfg); r.BrickedInstalls != 0 {
		t.Fatalf("default plan without fetch failures: bricked %d %v", r.BrickedInstalls, r.Causes)
	}
	t.Logf("bricked: gate on %d %v, gate off %d", on.BrickedInstalls, on.Causes, off.BrickedInstalls)
}

func TestSimulateConfigStrict(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "fleet.yaml")
	os.WriteFile(f, []byte("installs: 100\nplan:\n  treshold: 0.9\n"), 0o644)
	code, _, errOut := runCLI(t, "simulate", "--config", f)
	if code == 0 || !strings.Contains(errOut, "treshold") {
		t.Fatalf("exit %d, stderr %q: want the unknown key named", code, errOut)
	}
	svg := filepath.Join(dir, "p.svg")
	code, _, errOut = runCLI(t, "simulate", "--installs", "2000", "--days", "20", "--plot", svg)
	b, _ := os.ReadFile(svg)
	if code != 0 || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "bricked installs") {
		t.Fatalf("exit %d (%s), svg %.80q", code, errOut, b)
	}
}
