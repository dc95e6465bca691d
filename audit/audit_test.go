package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/audit"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

const app = "com.example.audited"

var lc = &server.LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)), Name: "pins.example.test"}

type service struct {
	srv *server.Server
	url *url.URL
}

func newService(t *testing.T) *service {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := func() time.Time { return trusttest.Epoch.Add(time.Hour) }
	srv, err := server.New(server.Config{Store: st, Now: now, RefreshInterval: time.Nanosecond, Log: lc})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	return &service{srv: srv, url: u}
}

func (s *service) publish(t *testing.T, kind string, b []byte) {
	t.Helper()
	var err error
	if kind == "root" {
		_, err = s.srv.PublishRoot(context.Background(), app, b)
	} else {
		_, err = s.srv.PublishManifest(context.Background(), app, b, server.PublishOptions{})
	}
	if err != nil {
		t.Fatalf("publish %s: %v", kind, err)
	}
}

func newRepo(t *testing.T) *trusttest.Repo {
	key, err := lc.LogVerifierKey(app)
	if err != nil {
		t.Fatal(err)
	}
	repo := trusttest.New(app, 80)
	repo.Log = &trust.Log{Key: key}
	repo.Roots, repo.Manifests, repo.ManifestVersion = nil, nil, 0
	repo.PublishRootSignedBy(repo.RootDoc(1), repo.RootKeys[:2]...)
	repo.PublishManifest(nil)
	return repo
}

func expected(repo *trusttest.Repo, pins int) []string {
	var ids []string
	for _, k := range repo.RootKeys {
		ids = append(ids, k.Key.ID)
	}
	for _, k := range repo.PinsKeys[:pins] {
		ids = append(ids, k.Key.ID)
	}
	return ids
}

func kinds(r *audit.Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Kind)
	}
	return out
}

// TestAuditRoguePinsKey: the audit lists every logged root and manifest
// with its signers, and a manifest published with a pins key outside the
// expected list is a problem.
func TestAuditRoguePinsKey(t *testing.T) {
	svc := newService(t)
	repo := newRepo(t)
	svc.publish(t, "root", repo.Root())
	svc.publish(t, "pins", repo.Manifest())
	svc.publish(t, "pins", repo.PublishManifest(nil))
	cfg := audit.Config{Server: svc.url, App: app, ExpectKeys: expected(repo, 3), StateDir: t.TempDir()}
	rep, err := audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || len(rep.Entries) != 3 || rep.Size != 3 {
		t.Fatalf("clean log: %+v", rep)
	}
	if e := rep.Entries[2]; e.Kind != "manifest" || e.Version != 2 || len(e.SignedBy) != 2 || e.SignedBy[0] != repo.PinsKeys[0].Key.ID {
		t.Fatalf("entry 2: %+v", e)
	}

	// Root v2 (validly signed by the root keys) adds a pins key the
	// operators do not know, which alone signs manifest v3.
	rogueKey := repo.NewKey()
	repo.PinsKeys, repo.PinsThreshold = append(repo.PinsKeys, rogueKey), 1
	svc.publish(t, "root", repo.PublishRoot())
	svc.publish(t, "pins", repo.PublishManifestSignedBy(repo.ManifestDoc(), rogueKey))
	rep, err = audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep); len(got) != 2 || got[0] != audit.ProblemUnexpectedKey || rep.Problems[0].Index != 3 ||
		got[1] != audit.ProblemUnexpectedKey || rep.Problems[1].Index != 4 || !strings.Contains(rep.Problems[1].Message, "manifest v3 is signed by key "+rogueKey.Key.ID) {
		t.Fatalf("rogue key: %+v", rep.Problems)
	}
	if e := rep.Entries[4]; len(e.SignedBy) != 1 || e.SignedBy[0] != rogueKey.Key.ID || e.RootVersion != 2 {
		t.Fatalf("entry 4: %+v", e)
	}
	if rep.PreviousSize != 3 || len(rep.Entries) != 5 {
		t.Fatalf("second run: previous %d, %d entries", rep.PreviousSize, len(rep.Entries))
	}
}

// TestAuditFork: a log that shows another history of the same size, or a
// larger one that rewrote the part the last run saw, or a smaller one, is
// a problem; the state keeps the good checkpoint.
func TestAuditFork(t *testing.T) {
	repo := newRepo(t)
	m2 := repo.PublishManifest(nil)
	good := newService(t)
	good.publish(t, "root", repo.Roots[0])
	good.publish(t, "pins", repo.Manifests[0])
	good.publish(t, "pins", m2)
	dir := t.TempDir()
	cfg := audit.Config{Server: good.url, App: app, StateDir: dir}
	if rep, err := audit.Run(context.Background(), cfg); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("first run: %v %+v", err, rep)
	}

	fork := newService(t)
	fork.publish(t, "root", repo.Roots[0])
	fork.publish(t, "pins", repo.Manifests[0])
	other := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[:2]...)
	fork.publish(t, "pins", other)
	cfg.Server = fork.url
	rep, err := audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep); len(got) != 1 || got[0] != audit.ProblemFork || !strings.Contains(rep.Problems[0].Message, "ALARM") {
		t.Fatalf("same-size fork: %+v", rep.Problems)
	}
	fork.publish(t, "pins", repo.PublishManifest(nil))
	rep, err = audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep); len(got) != 1 || got[0] != audit.ProblemFork {
		t.Fatalf("larger fork: %+v", rep.Problems)
	}

	// The good log again: the state still holds its checkpoint.
	cfg.Server = good.url
	if rep, err := audit.Run(context.Background(), cfg); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("back to the good log: %v %+v", err, rep.Problems)
	}
	// A smaller log: a rollback.
	small := newService(t)
	small.publish(t, "root", repo.Roots[0])
	small.publish(t, "pins", repo.Manifests[0])
	cfg.Server = small.url
	rep, err = audit.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep); len(got) != 1 || got[0] != audit.ProblemRollback {
		t.Fatalf("rollback: %+v", rep.Problems)
	}
}
