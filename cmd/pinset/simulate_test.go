package main

import (
	"encoding/json"
	"fmt"
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
// self-heal (a refresh, made again after a failed fetch, then a second
// handshake) rescues them: with the default 2 % of fetches failing,
// neither plan bricks any, and gate off heals many times more requests.
// What no client can heal is a pin service it cannot reach: the same
// day-long outage at each plan's switch bricks many times more installs
// without the gate (docs/rotation.md, "Simulation").
func TestSimulateGate(t *testing.T) {
	off := simulate(t, "--gate", "off")
	on := simulate(t)
	if off.SwitchHour != off.AnnouncedHour+24 || on.SwitchHour < on.AnnouncedHour+7*24 {
		t.Fatalf("switch: gate off at %d, gate on at %d (announced %d)", off.SwitchHour, on.SwitchHour, off.AnnouncedHour)
	}
	if on.BrickedInstalls != 0 || off.BrickedInstalls != 0 || on.Healed == 0 || off.Healed < 5*on.Healed {
		t.Fatalf("gate on: bricked %d %v, healed %d; gate off: bricked %d %v, healed %d",
			on.BrickedInstalls, on.Causes, on.Healed, off.BrickedInstalls, off.Causes, off.Healed)
	}
	const healOutage = "a request refused under the pins held; the self-heal's refresh failed (pin-service outage)"
	var bricked [2]int64
	for k, r := range []simOut{on, off} {
		cfg := filepath.Join(t.TempDir(), "outage.yaml")
		os.WriteFile(cfg, fmt.Appendf(nil, "outages: [{start_hour: %d, hours: 24}]\n", r.SwitchHour), 0o644)
		args := []string{"--config", cfg}
		if k == 1 {
			args = append(args, "--gate", "off")
		}
		o := simulate(t, args...)
		if o.SwitchHour != r.SwitchHour || o.Causes[healOutage] != o.BrickedInstalls {
			t.Fatalf("outage at hour %d: switched at %d, bricked %d %v", r.SwitchHour, o.SwitchHour, o.BrickedInstalls, o.Causes)
		}
		bricked[k] = o.BrickedInstalls
	}
	if bricked[0] == 0 || bricked[1] < 5*bricked[0] {
		t.Fatalf("a day-long outage at the switch: gate on bricked %d, gate off %d", bricked[0], bricked[1])
	}
	t.Logf("healed: gate on %d, gate off %d; with an outage at the switch bricked: gate on %d, gate off %d", on.Healed, off.Healed, bricked[0], bricked[1])
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
