package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust/trusttest"
)

// service is the real pin service (package server on SQLite) with the
// simulator's keys, and a proxy in front of it that the client talks to.
// The proxy passes everything through until told to rewrite responses the
// way a hostile or broken cache would, and records the If-None-Match of
// each manifest request.
type service struct {
	t     *testing.T
	clock *ct.Clock
	repo  *ct.Repo
	url   string // the service itself
	proxy string // the proxy in front of it

	mu      sync.Mutex
	rewrite func(*http.Response) // nil: pass through
	inm     []string             // If-None-Match of each pins.json request ("" for none)

	admin func(path string, body []byte)
}

func newService(t *testing.T) *service {
	t.Helper()
	s := &service{t: t, clock: ct.NewClock(ct.T0)}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st, Now: s.clock.Now, RefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	secret, hash, err := store.NewToken(pki.NewDeterministicRand("etag token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(context.Background(), "etag-test", hash, s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	s.url = hs.URL
	s.admin = adminPut(t, hs.URL, secret)
	target, _ := url.Parse(hs.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		r.Header.Del("Accept-Encoding") // plain bodies, so a rewrite can swap them
		if strings.HasSuffix(r.URL.Path, "/pins.json") {
			s.mu.Lock()
			s.inm = append(s.inm, r.Header.Get("If-None-Match"))
			s.mu.Unlock()
		}
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		s.mu.Lock()
		f := s.rewrite
		s.mu.Unlock()
		if f != nil && strings.HasSuffix(resp.Request.URL.Path, "/pins.json") {
			f(resp)
		}
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)
	s.proxy = ps.URL

	s.repo = ct.NewRepo(t, "com.example.etag", "etag")
	s.admin("/v1/admin/apps/com.example.etag/root", s.repo.RootBytes(1))
	s.publish(1)
	return s
}

// publish signs manifest v and publishes it through the admin API; the
// service serves it once its document cache refreshes.
func (s *service) publish(v uint64) []byte {
	s.t.Helper()
	m := s.repo.Sign(v, s.clock.Now().Add(-time.Minute), 30*24*time.Hour,
		ct.Pol("api.example.com", trusttest.Pin("live"), trusttest.Pin("backup")))
	s.admin("/v1/admin/apps/com.example.etag/pins", m)
	s.clock.Add(time.Second)
	time.Sleep(5 * time.Millisecond)
	return m
}

func (s *service) setRewrite(f func(*http.Response)) {
	s.mu.Lock()
	s.rewrite = f
	s.mu.Unlock()
}

// lastINM is the If-None-Match of the last manifest request.
func (s *service) lastINM() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inm) == 0 {
		s.t.Fatal("no manifest request reached the proxy")
	}
	return s.inm[len(s.inm)-1]
}

// setETag makes the proxy answer with the given ETag header.
func setETag(tag string) func(*http.Response) {
	return func(r *http.Response) { r.Header.Set("ETag", tag) }
}

func (s *service) client(t *testing.T, st client.Store, events *[]client.Event) *client.Client {
	t.Helper()
	var mu sync.Mutex
	c, err := client.New(client.Config{
		BundledRoot: s.repo.RootBytes(1), BundledManifest: s.repo.Manifests[1], ServiceURL: s.proxy,
		Store: st, Now: s.clock.Now, FetchTimeout: 5 * time.Second,
		OnEvent: func(e client.Event) {
			if events != nil {
				mu.Lock()
				*events = append(*events, e)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cachedETag is the ETag field of the cache file in dir ("" without one:
// a refresh that changes nothing writes no cache).
func cachedETag(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pinset-state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ETag string `json:"etag"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.ETag
}

// A hostile cache answers the first refresh with the genuine manifest and
// `ETag: *`. Kept and sent back as If-None-Match, `*` makes the genuine
// service answer 304 for ever (RFC 9110 13.1.2), freezing the client on v1
// with Refresh returning nil. The client never keeps it: its next refresh,
// which reaches the genuine service, ends on v2, in the same run and
// after a restart.
func TestHostileCacheStarETagDoesNotFreeze(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := map[bool]string{false: "same-run", true: "after-restart"}[restart]
		t.Run(name, func(t *testing.T) {
			s := newService(t)
			dir := t.TempDir()
			var events []client.Event
			c := s.client(t, client.NewDirStore(dir), &events)
			s.setRewrite(setETag("*"))
			if err := c.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tag := cachedETag(t, dir); tag != "" {
				t.Errorf("cache holds ETag %q from the hostile cache", tag)
			}
			s.setRewrite(nil)
			s.publish(2)
			if restart {
				c.Close()
				c = s.client(t, client.NewDirStore(dir), &events)
			}
			if err := c.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if v := c.State().ManifestVersion; v != 2 {
				t.Fatalf("manifest v%d after the genuine service published v2 (If-None-Match %q)", v, s.lastINM())
			}
			if inm := s.lastINM(); inm == "*" {
				t.Errorf("sent If-None-Match: *")
			}
			discarded := false
			for _, e := range events {
				if e.Kind == client.EventDiscarded && strings.Contains(e.Reason, "ETag") {
					discarded = true
				}
			}
			if !discarded {
				t.Errorf("no discarded event for the ETag: %v", events)
			}
		})
	}
}

// A 40 KB ETag would make every later request hit the service's header
// limit (431): it is neither stored nor sent, and refreshes keep working.
func TestLongETagNotStoredOrSent(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	c := s.client(t, client.NewDirStore(dir), nil)
	s.setRewrite(setETag(`"` + strings.Repeat("a", 40<<10) + `"`))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tag := cachedETag(t, dir); tag != "" {
		t.Errorf("cache holds a %d-byte ETag", len(tag))
	}
	s.setRewrite(nil)
	s.clock.Add(time.Hour)
	for range 2 {
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatalf("refresh after the long ETag: %v", err)
		}
		if inm := s.lastINM(); len(inm) > client.MaxETagBytes {
			t.Fatalf("sent a %d-byte If-None-Match", len(inm))
		}
	}
	// The genuine service's own ETag is kept and used.
	if inm := s.lastINM(); inm == "" || len(inm) > client.MaxETagBytes {
		t.Errorf("If-None-Match %q: the service's own ETag is not used", inm)
	}
}

// A 1.5 MB ETag of '<' (9 MB once JSON escapes it) bloated the cache past
// its 8 MiB cap, and the next start fell back to the bundled manifest,
// below the v2 the client had verified. It is not stored; and a cache file
// already bloated that way (written by an older client) is salvaged: the
// next start enforces v2 and says what it dropped.
func TestHugeETagDoesNotRollBackOnRestart(t *testing.T) {
	s := newService(t)
	dir := t.TempDir()
	c := s.client(t, client.NewDirStore(dir), nil)
	s.publish(2)
	huge := `"` + strings.Repeat("<", 1500<<10) + `"`
	s.setRewrite(setETag(huge))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 2 {
		t.Fatalf("v%d", v)
	}
	c.Close()
	var events []client.Event
	c2 := s.client(t, client.NewDirStore(dir), &events)
	if st := c2.State(); st.ManifestVersion != 2 || st.Source != "cache" {
		t.Fatalf("after restart: %+v", st)
	}

	// A bloated file as an older client wrote it: the documents, then the
	// ETag.
	m2 := s.repo.Manifests[2]
	ordered := []byte(`{"format":"pinset-client-cache-v1","roots":[],"manifest":` + jsonString(m2) + `,"manifest_after":0,"etag":` + jsonString([]byte(huge)) + `}`)
	if len(ordered) <= 8<<20 {
		t.Fatalf("the bloated cache is %d bytes, not over the cap", len(ordered))
	}
	if err := os.WriteFile(filepath.Join(dir, "pinset-state.json"), ordered, 0o600); err != nil {
		t.Fatal(err)
	}
	events = nil
	c3 := s.client(t, client.NewDirStore(dir), &events)
	if st := c3.State(); st.ManifestVersion != 2 || st.Source != "cache" {
		t.Fatalf("bloated cache: %+v; events %v", st, events)
	}
	var said bool
	for _, e := range events {
		if e.Kind == client.EventDiscarded && strings.Contains(e.Reason, "over its cap") {
			said = true
		}
		if e.Kind == client.EventRejected {
			t.Errorf("rejected: %v", e)
		}
	}
	if !said {
		t.Errorf("no discarded event: %v", events)
	}
	// The damaged file was replaced by what verified.
	if fi, err := os.Stat(filepath.Join(dir, "pinset-state.json")); err != nil || fi.Size() > 64<<10 {
		t.Errorf("cache file not repaired: %v, %v", fi.Size(), err)
	}
}

// jsonString is b as a JSON string, as encoding/json escapes it (the
// manifest as standard base64, the ETag's '<' as \u003c).
func jsonString(b []byte) string {
	out, _ := json.Marshal(b)
	if b[0] == '"' {
		out, _ = json.Marshal(string(b))
	}
	return string(out)
}

// A cache that serves the old manifest under the genuine service's
// current (valid, strong) ETag cannot be told from the real thing by the
// ETag's form; what bounds it is the unconditional request: the first of
// each run, then at least daily, and on every refresh in the last quarter
// of the manifest's lifetime.
func TestStaleBodyWithCurrentETagBoundedByUnconditionalRequests(t *testing.T) {
	s := newService(t)
	c := s.client(t, &client.MemStore{}, nil)
	m1 := s.repo.Manifests[1]
	s.publish(2)
	s.setRewrite(func(r *http.Response) { // v1's bytes under v2's ETag
		r.Body = io.NopCloser(bytes.NewReader(m1))
		r.ContentLength = int64(len(m1))
		r.Header.Del("Content-Length")
	})
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.lastINM(); got != "" {
		t.Errorf("first refresh of a run sent If-None-Match %q", got)
	}
	s.setRewrite(nil)
	s.clock.Add(time.Hour)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 1 {
		t.Fatalf("v%d: the conditional request within the day was expected to be answered 304", v)
	}
	s.clock.Add(client.UnconditionalRefreshInterval)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := c.State().ManifestVersion; v != 2 || s.lastINM() != "" {
		t.Fatalf("after a day: v%d, If-None-Match %q", v, s.lastINM())
	}
	// Conditional again within the day; unconditional near expiry.
	s.clock.Add(time.Hour)
	c.Refresh(context.Background())
	if s.lastINM() == "" {
		t.Error("no conditional request within the day")
	}
	s.clock.Add(23*24*time.Hour - 2*time.Hour) // v2: 30 days, now in its last quarter
	c.Refresh(context.Background())
	s.clock.Add(time.Hour)
	c.Refresh(context.Background())
	if got := s.lastINM(); got != "" {
		t.Errorf("near expiry: If-None-Match %q", got)
	}
}
