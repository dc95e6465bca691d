package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/telemetry"
)

// pubKeyFile writes the public half of a checktest key as PEM.
func pubKeyFile(t *testing.T, dir string, w *checktest.World, name string) string {
	der, err := x509.MarshalPKIXPublicKey(w.Key(name).Public())
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// fetchAs makes n installs (ids from first) fetch the manifest of app
// "shop", reporting manifest version v.
func fetchAs(t *testing.T, base string, first, n int, v uint64) {
	t.Helper()
	for i := first; i < first+n; i++ {
		req, _ := http.NewRequest("GET", base+"/v1/apps/shop/pins.json", nil)
		req.Header.Set(telemetry.Header, telemetry.Info{ID: fmt.Sprintf("%032x", i), RootVersion: 3, ManifestVersion: v, SDK: "test/1"}.String())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// TestRotateCLI drives a plan with pinset rotate against a pinset serve
// process that is killed with SIGKILL while the plan waits: the restarted
// service resumes it from the store, and the plan reaches done.
func TestRotateCLI(t *testing.T) {
	const host = "api.rotate.test"
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tok := newTokenCLI(t, data)
	world := checktest.NewWorldAt(t, host, time.Now().UTC().Add(-time.Hour))
	fleet := checktest.NewFleet(t, host, world.Leaf("old", 48*time.Hour), world.Leaf("old", 48*time.Hour))
	repo, _ := freshRepo(t, dir)
	repo.RotatePinsKeys(1, 1)
	repo.Hosts = []policy.Policy{{Pattern: host, Pins: []pin.Pin{world.Pin("old"), world.Pin("backup")}}}
	rootFile := writeFile(t, dir, "root.json", repo.Root())
	pinsFile := writeFile(t, dir, "pins.json", repo.PublishManifest(nil))
	keyPEM, err := repo.PinsKeys[0].MarshalPrivateKeyPEM(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "pins.key")
	writeFile(t, dir, "pins.key", keyPEM)
	caFile := writeFile(t, dir, "ca.pem", world.Root.CertPEM())
	resolve := ""
	for _, a := range fleet.Addrs {
		resolve += fmt.Sprintf("%q, ", fmt.Sprintf("%s:%d:%s", host, fleet.Port, a))
	}
	cfg := writeFile(t, dir, "serve.yaml", []byte(fmt.Sprintf(`adoption: {flush_interval: 10ms}
rotation:
  key: %s
  interval: 50ms
  cafile: %s
  port: %d
  resolve: [%s]
`, keyFile, caFile, fleet.Port, strings.TrimSuffix(resolve, ", "))))
	p := startServe(t, "--data", data, "--config", cfg)
	env := []string{"PINSET_TOKEN=" + tok}
	if out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile, pinsFile); err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	v0 := repo.ManifestVersion

	out, errOut, err := pinsetRun(t, env, "rotate", "start", "--server", p.url, "--app", "shop", "--host", host,
		"--next-key", pubKeyFile(t, dir, world, "next"), "--old-key", pubKeyFile(t, dir, world, "old"), "--min-clients", "3", "--hold-down", "0")
	if err != nil {
		t.Fatalf("rotate start: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "adopting") || !strings.Contains(out, "at least 3 active installs (0 seen)") {
		t.Fatalf("rotate start printed:\n%s", out)
	}
	status := func(p *serveProc) []map[string]any {
		t.Helper()
		out, errOut, err := pinsetRun(t, env, "rotate", "status", "--server", p.url, "--all", "--json")
		if err != nil {
			t.Fatalf("rotate status: %v\n%s", err, errOut)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return list
	}
	list := status(p)
	if len(list) != 1 {
		t.Fatalf("status: %v", list)
	}
	for _, k := range []string{"host", "state", "next_pin", "adoption", "blocked_by"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("status --json lacks %q: %v", k, list[0])
		}
	}
	if list[0]["host"] != host || list[0]["next_pin"] != world.Pin("next").String() || list[0]["state"] != "adopting" {
		t.Fatalf("status %v", list[0])
	}

	// Two installs hold the announcement: still too few. Kill the
	// service while the plan waits.
	fetchAs(t, p.url, 0, 2, v0+1)
	time.Sleep(100 * time.Millisecond) // written (10ms flushes), stepped (50ms)
	if s := status(p)[0]; s["adoption"] != 1.0 || !strings.Contains(s["blocked_by"].(string), "(2 seen)") {
		t.Fatalf("before the kill: %v", s)
	}
	p.kill9(t)
	p = startServe(t, "--data", data, "--config", cfg)
	if s := status(p)[0]; s["state"] != "adopting" || !strings.Contains(s["blocked_by"].(string), "(2 seen)") {
		t.Fatalf("after the restart: %v", s)
	}
	fetchAs(t, p.url, 2, 1, v0+1)
	waitState := func(want string) map[string]any {
		t.Helper()
		for i := 0; ; i++ {
			s := status(p)[0]
			if s["state"] == want {
				return s
			}
			if i > 100 {
				t.Fatalf("plan %v, want %s", s, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s := waitState("ready") // the background steps resumed the plan
	if !strings.Contains(s["blocked_by"].(string), "pinset rotate advance") {
		t.Fatalf("ready: %v", s)
	}
	fleet.SetCert(0, world.Leaf("next", 48*time.Hour))
	fleet.SetCert(1, world.Leaf("next", 48*time.Hour))
	out, errOut, err = pinsetRun(t, env, "rotate", "advance", "--server", p.url, "--app", "shop", "--host", host)
	if err != nil {
		t.Fatalf("rotate advance: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "done") {
		t.Fatalf("advance printed:\n%s", out)
	}
	// The retiring manifest dropped the old pin.
	resp, err := http.Get(p.url + "/v1/apps/shop/pins.json")
	if err != nil {
		t.Fatal(err)
	}
	var env2 struct{ Payload []byte }
	json.NewDecoder(resp.Body).Decode(&env2)
	resp.Body.Close()
	var m struct {
		Hosts []struct{ Pins []string }
	}
	json.Unmarshal(env2.Payload, &m)
	if len(m.Hosts) != 1 || strings.Contains(strings.Join(m.Hosts[0].Pins, " "), world.Pin("old").String()) {
		t.Fatalf("published hosts %+v", m.Hosts)
	}
	if _, errOut, err := pinsetRun(t, env, "rotate", "abort", "--server", p.url, "--id", fmt.Sprint(s["id"])); err == nil || !strings.Contains(errOut, "done") {
		t.Fatalf("abort of a finished plan: %v %s", err, errOut)
	}
}
