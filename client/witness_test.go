package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
	"pinset.dev/pinset/witness"
)

// testWitness is a witness (package witness) on loopback.
type testWitness struct {
	srv  *httptest.Server
	conf server.LogWitness
}

func newTestWitness(t testing.TB, seed byte, logKey string) *testWitness {
	t.Helper()
	c, err := tlog.NewCosigner(string([]byte{'w', '0' + seed})+".witness.example.test", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)),
		func() time.Time { return trusttest.Epoch })
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Cosigner: c, Logs: []string{logKey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return &testWitness{srv: srv, conf: server.LogWitness{URL: srv.URL, Key: c.VerifierKey()}}
}

// TestLogWitnessThreshold: a root names three witnesses with a threshold
// of 2. The service asks the witnesses it is configured with for a
// cosignature on each new checkpoint and serves it with them: with two
// witnesses answering the SDK accepts the manifest; once only one answers,
// the next manifest is refused (ErrLogCheckpoint) and the state stays. A
// service with the same log key showing another history gets no witness
// to cosign its fork, so even a client that holds no checkpoint yet
// refuses it.
func TestLogWitnessThreshold(t *testing.T) {
	const app = "com.example.witnessed"
	now := trusttest.Epoch.Add(time.Hour)
	clock := func() time.Time { return now }
	lc := &server.LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)), Name: "pins.example.test", WitnessTimeout: 2 * time.Second}
	key, err := lc.LogVerifierKey(app)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2, w3 := newTestWitness(t, 1, key), newTestWitness(t, 2, key), newTestWitness(t, 3, key)
	w3.srv.Close() // down from the start
	lc.Witnesses = []server.LogWitness{w1.conf, w2.conf, w3.conf}
	svc, repo, r1, m1 := loggedApp(t, app, 72, 0, clock, lc, &trust.Log{Key: key, Witnesses: []string{w1.conf.Key, w2.conf.Key, w3.conf.Key}, WitnessThreshold: 2})
	newClient := func(url string) *client.Client {
		c, err := client.New(client.Config{BundledRoot: r1, BundledManifest: m1, ServiceURL: url, Now: clock, Store: &client.MemStore{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient(svc.url)

	m2 := repo.PublishManifest(nil)
	svc.publish(t, app, "pins", m2)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("2 of 3 witnesses cosigned: %v", err)
	}
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("manifest v%d, want 2", v)
	}

	w2.srv.Close()
	svc.publish(t, app, "pins", repo.PublishManifest(nil))
	err = c.Refresh(context.Background())
	if !errors.Is(err, trust.ErrLogCheckpoint) || c.State().ManifestVersion != 2 {
		t.Fatalf("1 of 3 witnesses cosigned: %v, state v%d; want ErrLogCheckpoint and v2", err, c.State().ManifestVersion)
	}

	// A fork under the same key: w1 cosigned size 3 of the real log; a
	// service showing another tree of size 3 asks w1, which refuses it
	// (409), so its checkpoint carries no cosignature of w1 and a new
	// client refuses it.
	lf := *lc
	lf.Witnesses = []server.LogWitness{w1.conf}
	fork := newLogService(t, clock, &lf)
	fork.publish(t, app, "root", r1)
	fork.publish(t, app, "pins", m1)
	fork.publish(t, app, "pins", repo.PublishManifest(nil)) // v4 at index 2, where the real log has v2
	only1, err := tlog.NewVerifiers(key, []string{w1.conf.Key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only1.Open(getCheckpoint(t, svc.url, app)); err != nil {
		t.Fatalf("the real log's checkpoint without w1's cosignature: %v", err)
	}
	if _, err := only1.Open(getCheckpoint(t, fork.url, app)); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("the fork's checkpoint: %v, want no cosignature of w1", err)
	}
	c2 := newClient(fork.url)
	if err := c2.Refresh(context.Background()); !errors.Is(err, trust.ErrLogCheckpoint) || c2.State().ManifestVersion != 1 {
		t.Fatalf("forked log: %v, state v%d; want ErrLogCheckpoint and v1", err, c2.State().ManifestVersion)
	}
}

func getCheckpoint(t *testing.T, base, app string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/v1/apps/" + app + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("checkpoint: %d %v", resp.StatusCode, err)
	}
	return b
}
