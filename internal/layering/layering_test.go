package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "pinset.dev/pinset/"

// The client side is what apps link: the SDK and what it decides with.
var clientSide = []string{"pin", "policy", "trust", "enforce", "client", "report/trustkit", "telemetry", "internal/redact"}

// The service and the tools; the client side imports neither.
var service = []string{"server", "server/serveconfig", "store", "device", "monitor", "alert", "report", "rotate"}
var tools = []string{"probe", "check", "export", "scan", "keyring", "certs", "deploy", "fleet", "demo"}

func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list dependencies with: %v", err)
	}
	args := []string{"list", "-deps"}
	for _, p := range pkgs {
		args = append(args, mod+p)
	}
	out, err := exec.Command(gobin, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func under(p string, roots []string) bool {
	for _, r := range roots {
		if p == mod+r || strings.HasPrefix(p, mod+r+"/") && !(r == "report" && p == mod+"report/trustkit") {
			return true
		}
	}
	return false
}

// The client side links no service and no tool; package mobile (the SDK
// for gomobile) links no service, and of the tools only export (the
// OkHttp configuration of the pins in force) and what it needs.
func TestLayers(t *testing.T) {
	for _, p := range deps(t, clientSide...) {
		if under(p, service) || under(p, tools) {
			t.Errorf("the client side links %s", p)
		}
	}
	for _, p := range deps(t, "mobile") {
		if under(p, service) {
			t.Errorf("mobile links the service's %s", p)
		}
	}
	// The service links no tool but those it runs: probe and check (the
	// publish gate, the monitor's rounds) and, for a rotation plan's switch
	// through a target, keyring, certs and deploy.
	runs := map[string]bool{}
	for _, r := range []string{"probe", "check", "keyring", "certs", "deploy"} {
		runs[mod+r] = true
	}
	for _, p := range deps(t, service...) {
		if under(p, tools) && !runs[p] {
			t.Errorf("the service links the tool %s", p)
		}
	}
}
