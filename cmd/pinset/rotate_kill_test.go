package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// freePort returns a loopback port that was free a moment ago, so that a
// restarted pinset serve keeps the URL its clients know.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRotateSurvivesKill9WithSDKClients: 200 SDK clients (each with its
// own cache directory) against a pinset serve process that is killed with
// SIGKILL while the plan is adopting. The restarted service resumes the
// plan from the database, reaches ready once every install holds the next
// pin, and after the switch and the operator's confirmation retires the
// old pin; no pinned request fails at any moment.
func TestRotateSurvivesKill9WithSDKClients(t *testing.T) {
	const host = "api.rotate.test"
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tok := newTokenCLI(t, data)
	world := checktest.NewWorldAt(t, host, time.Now().UTC().Add(-time.Hour))
	leaf := func(name string) tls.Certificate { return world.Leaf(name, 48*time.Hour) }
	fleet := checktest.NewHTTPSFleet(t, host, 3, leaf("old"))
	repo, _ := freshRepo(t, dir)
	repo.RotatePinsKeys(1, 1)
	repo.Hosts = []policy.Policy{{Pattern: host, Pins: []pin.Pin{world.Pin("old"), world.Pin("backup")}}}
	bundle := repo.PublishManifest(nil)
	rootFile := writeFile(t, dir, "root.json", repo.Root())
	pinsFile := writeFile(t, dir, "pins.json", bundle)
	keyPEM, _ := repo.PinsKeys[0].MarshalPrivateKeyPEM(nil)
	keyFile := writeFile(t, dir, "pins.key", keyPEM)
	caFile := writeFile(t, dir, "ca.pem", world.Root.CertPEM())
	var resolve []string
	for _, a := range fleet.Addrs {
		resolve = append(resolve, strconv.Quote(fmt.Sprintf("%s:%d:%s", host, fleet.Port, a)))
	}
	// The 200 installs all fetch from 127.0.0.1, one client network: the
	// cap of installs counted per network is lifted so that all count.
	cfg := writeFile(t, dir, "serve.yaml", []byte(fmt.Sprintf("adoption: {flush_interval: 20ms, max_installs_per_network: 1000}\nrotation: {key: %s, interval: 100ms, cafile: %s, port: %d, resolve: [%s]}\n",
		keyFile, caFile, fleet.Port, strings.Join(resolve, ", "))))
	addr := freePort(t)
	serve := func() *serveProc { return startServe(t, "--data", data, "--config", cfg, "--listen", addr) }
	p := serve()
	env := []string{"PINSET_TOKEN=" + tok}
	if out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile, pinsFile); err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}

	var failures atomic.Int64
	var mu sync.Mutex
	var errs []error
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	apps := make([]*client.Client, 200)
	for i := range apps {
		node := fleet.Address(i % len(fleet.Addrs))
		c, err := client.New(client.Config{
			BundledRoot: repo.Root(), BundledManifest: bundle, ServiceURL: p.url,
			Store: client.NewDirStore(filepath.Join(dir, "apps", strconv.Itoa(i))),
			TLS:   &tls.Config{RootCAs: world.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, node)
			},
			Rand: pki.NewDeterministicRand("kill app " + strconv.Itoa(i)),
			OnEvent: func(e client.Event) {
				if e.Kind == client.EventPinFailure {
					failures.Add(1)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		apps[i] = c
	}
	target := "https://" + net.JoinHostPort(host, strconv.Itoa(fleet.Port)) + "/"
	round := func(from, to int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := from; i < to; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := apps[i].Refresh(context.Background()); err != nil {
					fail(fmt.Errorf("app %d refresh: %w", i, err))
				}
				resp, err := apps[i].HTTPClient().Get(target)
				if err != nil {
					fail(fmt.Errorf("app %d request: %w", i, err))
					return
				}
				resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	status := func() map[string]any {
		t.Helper()
		var list struct{ Plans []map[string]any }
		adminGet(t, p.url, tok, "/v1/admin/rotations", &list)
		if len(list.Plans) != 1 {
			t.Fatalf("plans: %v", list.Plans)
		}
		return list.Plans[0]
	}
	waitFor := func(what string, ok func(map[string]any) bool) map[string]any {
		t.Helper()
		for i := 0; ; i++ {
			s := status()
			if ok(s) {
				return s
			}
			if i > 200 {
				t.Fatalf("waiting for %s: %v", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	round(0, 200) // every install reports the bundled manifest
	out, errOut, err := pinsetRun(t, env, "rotate", "start", "--server", p.url, "--app", "shop", "--host", host,
		"--next-key", pubKeyFile(t, dir, world, "next"), "--old-key", pubKeyFile(t, dir, world, "old"), "--min-clients", "200", "--hold-down", "0")
	if err != nil {
		t.Fatalf("rotate start: %v\n%s%s", err, out, errOut)
	}
	round(0, 200) // they fetch the announcement...
	round(0, 100) // ...and half of them report holding it
	waitFor("half the installs", func(s map[string]any) bool { return s["adoption"] == 0.5 })
	p.kill9(t)
	p = serve()
	if s := status(); s["state"] != "adopting" || s["adoption"] != 0.5 || s["active_clients"] != 200.0 {
		t.Fatalf("after SIGKILL: %v", s)
	}
	round(100, 200)
	s := waitFor("ready", func(s map[string]any) bool { return s["state"] == "ready" })
	if s["adoption"] != 1.0 {
		t.Fatalf("ready at %v", s)
	}
	// A rolling switch while the installs make requests, then the
	// operator's confirmation.
	for i := range fleet.Addrs {
		fleet.SetCert(i, leaf("next"))
		round(0, 200)
	}
	if out, errOut, err := pinsetRun(t, env, "rotate", "advance", "--server", p.url, "--app", "shop", "--host", host); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("rotate advance: %v\n%s%s", err, out, errOut)
	}
	round(0, 200)
	for i, c := range apps {
		if st := c.State(); st.ManifestVersion != int64(repo.ManifestVersion+2) {
			t.Fatalf("app %d holds manifest v%d, want the retiring v%d", i, st.ManifestVersion, repo.ManifestVersion+2)
		}
		if pols := c.State().Policies; pin.Contains(pols[0].Pins, world.Pin("old")) {
			t.Fatalf("app %d still pins the old key", i)
		}
	}
	if len(errs) > 0 || failures.Load() > 0 {
		t.Fatalf("%d errors, %d pin failures: %v", len(errs), failures.Load(), errors.Join(errs[:min(3, len(errs))]...))
	}
}
