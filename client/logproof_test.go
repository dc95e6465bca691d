package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// logService is a real pin service with a transparency log key, on
// loopback.
type logService struct {
	srv *server.Server
	url string
}

func newLogService(t *testing.T, now func() time.Time, lc *server.LogConfig) *logService {
	t.Helper()
	return newLogServiceB(t, now, lc)
}

func newLogServiceB(t testing.TB, now func() time.Time, lc *server.LogConfig) *logService {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st, Now: now, RefreshInterval: time.Nanosecond, Log: lc})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &logService{srv: srv, url: hs.URL}
}

// loggedApp starts a service with lc and publishes root v1 (naming log,
// unless nil) and manifest v1 of a new repository for app (with hosts
// hosts, 0 for the repository's default).
func loggedApp(t testing.TB, app string, seed uint64, hosts int, clock func() time.Time, lc *server.LogConfig, log *trust.Log) (*logService, *trusttest.Repo, []byte, []byte) {
	t.Helper()
	repo := trusttest.New(app, seed)
	if hosts > 0 {
		repo.Hosts = trusttest.Hosts(hosts)
	}
	repo.Log = log
	repo.Roots, repo.Manifests, repo.ManifestVersion = nil, nil, 0
	r1 := repo.PublishRootSignedBy(repo.RootDoc(1), repo.RootKeys[:2]...)
	m1 := repo.PublishManifest(nil)
	svc := newLogServiceB(t, clock, lc)
	svc.publishB(t, app, "root", r1)
	svc.publishB(t, app, "pins", m1)
	return svc, repo, r1, m1
}

func (s *logService) publish(t *testing.T, app, kind string, b []byte) { s.publishB(t, app, kind, b) }

func (s *logService) publishB(t testing.TB, app, kind string, b []byte) {
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

// TestLogClient: under a root that names the service's log, the client
// accepts manifests with the proof the service sends alongside (no extra
// request), keeps the newest checkpoint in its cache and restores from it,
// refuses a validly signed manifest absent from the log, and detects a
// forked log.
func TestLogClient(t *testing.T) {
	const app = "com.example.logged"
	now := trusttest.Epoch.Add(time.Hour)
	clock := func() time.Time { return now }
	lc := &server.LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), Name: "pins.example.test"}
	key, err := lc.LogVerifierKey(app)
	if err != nil {
		t.Fatal(err)
	}
	svc, repo, r1, m1 := loggedApp(t, app, 70, 0, clock, lc, &trust.Log{Key: key})

	var requests []string
	counting := func(next string) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests = append(requests, r.URL.Path+" size="+r.Header.Get("Pinset-Log-Size"))
			req, _ := http.NewRequest(r.Method, next+r.URL.Path, nil)
			req.Header = r.Header.Clone()
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				w.WriteHeader(502)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			w.Write(buf.Bytes())
		}))
		t.Cleanup(hs.Close)
		return hs.URL
	}
	cache := &client.MemStore{}
	newClient := func(url string) *client.Client {
		c, err := client.New(client.Config{BundledRoot: r1, BundledManifest: m1, ServiceURL: url, Now: clock, Store: cache})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient(counting(svc.url))
	m2 := repo.PublishManifest(nil)
	svc.publish(t, app, "pins", m2)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("manifest v%d, want 2", v)
	}
	// One request for the manifest (after the root probe): the proof came with it.
	if len(requests) != 2 || !strings.HasSuffix(requests[1], "/pins.json size=") {
		t.Fatalf("requests %q", requests)
	}
	raw, _ := cache.Load("pinset-state.json")
	if !bytes.Contains(raw, []byte(`"log_checkpoint"`)) || !bytes.Contains(raw, []byte(`"log_proof"`)) {
		t.Fatalf("cache without the log state: %s", raw)
	}

	// Restarted: the cached manifest is restored with its proof.
	c2 := newClient(svc.url)
	if s := c2.State(); s.ManifestVersion != 2 || s.Source != "cache" {
		t.Fatalf("restored %+v", s)
	}

	// Two more manifests: accepted with a consistency proof from size 3.
	svc.publish(t, app, "pins", repo.PublishManifest(nil))
	m4 := repo.PublishManifest(nil)
	svc.publish(t, app, "pins", m4)
	requests = nil
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 4 || !strings.HasSuffix(requests[1], "/pins.json size=3") {
		t.Fatalf("manifest v%d, requests %q", v, requests)
	}

	// A validly signed manifest that is not in the log, served with the
	// current manifest's proof: refused, v4 stays.
	rogue := repo.PublishManifest(nil)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/pins.json") {
			resp, err := http.Get(svc.url + r.URL.Path)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			w.Header().Set("Pinset-Log-Proof", resp.Header.Get("Pinset-Log-Proof"))
			w.Write(rogue)
			return
		}
		http.NotFound(w, r)
	}))
	defer proxy.Close()
	c3 := newClient(proxy.URL)
	err = c3.Refresh(context.Background())
	if !errors.Is(err, trust.ErrNotLogged) || c3.State().ManifestVersion != 4 {
		t.Fatalf("rogue manifest: %v, state v%d", err, c3.State().ManifestVersion)
	}

	// A forked log: another service with the same log key and another
	// history of the same size (5) serves v5. The client holds size 5.
	fork := newLogService(t, clock, lc)
	fork.publish(t, app, "root", r1)
	fork.publish(t, app, "pins", m1)
	fork.publish(t, app, "pins", m2)
	fork.publish(t, app, "pins", repo.Manifests[2])
	fork.publish(t, app, "pins", rogue)
	c4 := newClient(fork.url)
	err = c4.Refresh(context.Background())
	if !errors.Is(err, trust.ErrLogFork) || c4.State().ManifestVersion != 4 {
		t.Fatalf("forked log: %v, state v%d", err, c4.State().ManifestVersion)
	}
}
