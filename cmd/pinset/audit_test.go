package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// TestAuditCommand: pinset audit lists the log and exits 0; after a root
// adds a pins key that is not in --expect-keys and that key alone signs a
// manifest, it lists that manifest and exits 1; an unreachable service is
// exit 2.
func TestAuditCommand(t *testing.T) {
	const app = "com.example.cli"
	dir := t.TempDir()
	// The log key as an operator makes it, and its verifier key.
	if code, _, errOut := runCLI(t, "key", "new", filepath.Join(dir, "log"), "--alg", "ed25519"); code != 0 {
		t.Fatalf("key new: %s", errOut)
	}
	code, keyOut, errOut := runCLI(t, "audit", "log-key", "--key", filepath.Join(dir, "log.key"), "--name", "pins.example.test", "--app", app)
	if code != 0 {
		t.Fatalf("log-key: %s", errOut)
	}
	vkey := strings.TrimSpace(keyOut)
	if !strings.HasPrefix(vkey, "pins.example.test/"+app+"+") {
		t.Fatalf("log key %q", vkey)
	}
	k, err := server.ReadLogKey(filepath.Join(dir, "log.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "log.key"), 0o644)
	if _, err := server.ReadLogKey(filepath.Join(dir, "log.key"), nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable log key: %v", err)
	}

	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := func() time.Time { return trusttest.Epoch.Add(time.Hour) }
	srv, err := server.New(server.Config{Store: st, Now: now, RefreshInterval: time.Nanosecond, Log: &server.LogConfig{Key: k, Name: "pins.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	repo := trusttest.New(app, 90)
	repo.Log = &trust.Log{Key: vkey}
	repo.Roots, repo.Manifests, repo.ManifestVersion = nil, nil, 0
	ctx := context.Background()
	mustPub := func(kind string, b []byte) {
		t.Helper()
		var err error
		if kind == "root" {
			_, err = srv.PublishRoot(ctx, app, b)
		} else {
			_, err = srv.PublishManifest(ctx, app, b, server.PublishOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mustPub("root", repo.PublishRootSignedBy(repo.RootDoc(1), repo.RootKeys[:2]...))
	mustPub("pins", repo.PublishManifest(nil))

	var keys bytes.Buffer
	keys.WriteString("# root and pins keys\n")
	for _, s := range append(append([]*trust.Signer(nil), repo.RootKeys...), repo.PinsKeys...) {
		keys.WriteString(s.Key.ID + "\n")
	}
	keysFile := filepath.Join(dir, "keys.txt")
	os.WriteFile(keysFile, keys.Bytes(), 0o644)
	args := []string{"audit", "--server", hs.URL, "--app", app, "--expect-keys", keysFile, "--state", filepath.Join(dir, "state")}
	code, out, errOut := runCLI(t, args...)
	if code != 0 || !strings.Contains(out, "#1 2026-01-01T01:00:00Z manifest v1 (root v1)") || !strings.Contains(errOut, "trusted on first use") {
		t.Fatalf("clean audit: %d\n%s\n%s", code, out, errOut)
	}

	rogue := repo.NewKey()
	repo.PinsKeys, repo.PinsThreshold = append(repo.PinsKeys, rogue), 1
	mustPub("root", repo.PublishRoot())
	mustPub("pins", repo.PublishManifestSignedBy(repo.ManifestDoc(), rogue))
	code, out, errOut = runCLI(t, args...)
	if code != 1 || !strings.Contains(out, "#3 2026-01-01T01:00:00Z manifest v2 (root v2)") || !strings.Contains(out, "signed by "+rogue.Key.ID[:16]) ||
		!strings.Contains(errOut, "unexpected-key #3: manifest v2 is signed by key "+rogue.Key.ID) || !strings.Contains(out, "consistent with the last run's 2") {
		t.Fatalf("rogue pins key: %d\n%s\n%s", code, out, errOut)
	}

	hs.Close()
	if code, _, errOut := runCLI(t, args...); code != 2 || !strings.Contains(errOut, "not done") {
		t.Fatalf("service down: %d %s", code, errOut)
	}
}

// TestServeTransparencyLogConfig: serve's transparency_log section loads
// the key (0600 only) and gives the server its log; unknown keys are
// refused.
func TestServeTransparencyLogConfig(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "key", "new", filepath.Join(dir, "log"), "--alg", "ed25519"); code != 0 {
		t.Fatal(errOut)
	}
	conf := filepath.Join(dir, "pinset.yaml")
	os.WriteFile(conf, []byte("transparency_log:\n  key: "+filepath.Join(dir, "log.key")+"\n  name: pins.example.test\n"), 0o644)
	cfg, err := serveconfig.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cfg.Build(io.Discard)
	if err != nil || svc.Server.Log == nil || svc.Server.Log.Name != "pins.example.test" {
		t.Fatalf("build: %v %+v", err, svc)
	}
	if svc.Monitor == nil || svc.Monitor.LogAudit != nil {
		t.Fatalf("no audit section: %+v", svc.Monitor)
	}
	os.WriteFile(conf, []byte("transparency_log:\n  key: "+filepath.Join(dir, "log.key")+"\n  name: pins.example.test\n  audit:\n    server: http://127.0.0.1:1\n    state: "+filepath.Join(dir, "audit")+"\n"), 0o644)
	if cfg, err = serveconfig.Load(conf); err != nil {
		t.Fatal(err)
	}
	if svc, err = cfg.Build(io.Discard); err != nil || svc.Monitor == nil || svc.Monitor.LogAudit == nil {
		t.Fatalf("audit section: %v", err)
	}
	if _, err := svc.Monitor.LogAudit(context.Background(), "com.example.app"); err == nil {
		t.Fatal("an audit of an unreachable service succeeded")
	}
	cfg.TransparencyLog.Audit.State = ""
	if _, err := cfg.Build(io.Discard); err == nil {
		t.Fatal("audit without a state directory accepted")
	}
	os.WriteFile(conf, []byte("transparency_log:\n  key: x\n  nmae: y\n"), 0o644)
	if _, err := serveconfig.Load(conf); err == nil {
		t.Fatal("unknown transparency_log key accepted")
	}
	if _, err := (&serveconfig.TransparencyLog{Key: filepath.Join(dir, "log.key")}).Load(); err == nil {
		t.Fatal("no name accepted")
	}
}
