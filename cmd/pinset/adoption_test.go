package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/server"
)

// adminGet GETs an admin path of a running pinset serve into v.
func adminGet(t *testing.T, base, tok, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestGetCountsOncePerCache: `pinset get --pins-url … --cache DIR` from 5
// cache directories makes 5 active clients at the service; running again
// from one of them does not add one (its install id is kept in DIR).
func TestGetCountsOncePerCache(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tok := newTokenCLI(t, data)
	cfg := writeFile(t, dir, "serve.yaml", []byte("adoption: {flush_interval: 20ms}\n"))
	p := startServe(t, "--data", data, "--config", cfg)

	ca := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("adoption ca")}))
	live := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("adoption live")}))
	backup := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("adoption backup")}))
	backend := ct.NewBackend(t, live)
	repo := ct.NewRepo(t, "com.example.adoption", "adoption")
	m1 := repo.Sign(1, time.Now().UTC().Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", live.Pin(), backup.Pin()))
	rootFile := writeFile(t, dir, "root.json", repo.RootBytes(1))
	pinsFile := writeFile(t, dir, "pins.json", m1)
	caFile := writeFile(t, dir, "ca.pem", ca.CertPEM())
	if out, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", p.url, rootFile, pinsFile); err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	get := func(cache string) {
		t.Helper()
		out, errOut, err := pinsetRun(t, nil, "get", backend.URL("/"), "--root", rootFile, "--pins-url", p.url,
			"--cache", filepath.Join(dir, cache), "--cafile", caFile, "-o", os.DevNull)
		if err != nil {
			t.Fatalf("pinset get: %v\n%s%s", err, out, errOut)
		}
	}
	active := func() int64 {
		var rep server.AdoptionReport
		adminGet(t, p.url, tok, "/v1/admin/apps/com.example.adoption/adoption", &rep)
		return rep.ActiveClients
	}
	waitActive := func(want int64) {
		t.Helper()
		for i := 0; ; i++ {
			if n := active(); n == want {
				return
			} else if i > 100 {
				t.Fatalf("active_clients %d, want %d", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range 5 {
		get(fmt.Sprintf("cache%d", i))
	}
	waitActive(5)
	get("cache0")
	get("cache3")
	time.Sleep(200 * time.Millisecond) // ten flush intervals
	if n := active(); n != 5 {
		t.Fatalf("after running again from two of the caches: active_clients %d, want 5", n)
	}
}
