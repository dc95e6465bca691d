package client

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/telemetry"
)

// headerLog serves a fixed root chain end (404) and manifest, recording
// the telemetry header of every request by path.
type headerLog struct {
	mu       sync.Mutex
	manifest []byte
	seen     map[string][]string // path -> header values (""= absent)
}

func (h *headerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen[r.URL.Path] = append(h.seen[r.URL.Path], r.Header.Get(telemetry.Header))
	h.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/pins.json") {
		w.Header().Set("Content-Type", "application/json")
		w.Write(h.manifest)
		return
	}
	http.NotFound(w, r)
}

func (h *headerLog) last(path string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.seen[path]
	if len(v) == 0 {
		return "<none>"
	}
	return v[len(v)-1]
}

func TestTelemetryHeader(t *testing.T) {
	w := newWorld(t)
	log := &headerLog{manifest: w.m1, seen: map[string][]string{}}
	hs := httptest.NewServer(log)
	defer hs.Close()
	mem := &MemStore{}
	newClient := func(mod func(*Config)) *Client {
		cfg := w.config(mem)
		cfg.ServiceURL = hs.URL
		cfg.TLS = &tls.Config{RootCAs: w.ca.Pool()}
		if mod != nil {
			mod(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const pins = "/v1/apps/com.example.app/pins.json"
	const root2 = "/v1/apps/com.example.app/roots/2.json"

	newClient(nil)
	info, err := telemetry.Parse([]string{log.last(pins)})
	if err != nil {
		t.Fatalf("manifest fetch header %q: %v", log.last(pins), err)
	}
	if info.RootVersion != 1 || info.ManifestVersion != 1 || info.SDK != SDKName {
		t.Fatalf("header %+v", info)
	}
	if got := log.last(root2); got != "" {
		t.Errorf("root fetch carried telemetry %q", got)
	}
	stored, err := mem.Load(installKey)
	if err != nil || !strings.Contains(string(stored), info.ID) {
		t.Fatalf("install id not kept in the Store: %q %v", stored, err)
	}

	// Another run with the same Store: the same id, until 30 days passed.
	newClient(nil)
	if again, _ := telemetry.Parse([]string{log.last(pins)}); again.ID != info.ID {
		t.Fatalf("id changed between runs: %s -> %s", info.ID, again.ID)
	}
	w.clock.Add(telemetry.RotateAfter - time.Minute)
	c := newClient(func(c *Config) { c.Rand = pki.NewDeterministicRand("other") })
	if again, _ := telemetry.Parse([]string{log.last(pins)}); again.ID != info.ID {
		t.Fatalf("id replaced before %v", telemetry.RotateAfter)
	}
	w.clock.Add(2 * time.Minute)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated, _ := telemetry.Parse([]string{log.last(pins)})
	if rotated.ID == "" || rotated.ID == info.ID {
		t.Fatalf("id not replaced after %v: %q", telemetry.RotateAfter, rotated.ID)
	}
	if stored, _ := mem.Load(installKey); !strings.Contains(string(stored), rotated.ID) {
		t.Fatalf("the new id was not kept: %q", stored)
	}

	// Opt-out: no header, nothing stored.
	mem2 := &MemStore{}
	mem = mem2
	newClient(func(c *Config) { c.NoTelemetry = true })
	if got := log.last(pins); got != "" {
		t.Fatalf("NoTelemetry sent %q", got)
	}
	if _, err := mem2.Load(installKey); err == nil {
		t.Fatal("NoTelemetry stored an install id")
	}
}

// TestTelemetryBadRecord: an unreadable install record is replaced (and
// said so), never sent.
func TestTelemetryBadRecord(t *testing.T) {
	for _, rec := range []string{`garbage`, `{"id":"ABC","created":1}`, `{"id":"0123456789abcdef0123456789abcdef","created":1,"x":1}`,
		strings.Repeat(" ", maxInstallBytes+1)} {
		w := newWorld(t)
		log := &headerLog{manifest: w.m1, seen: map[string][]string{}}
		hs := httptest.NewServer(log)
		mem := &MemStore{}
		mem.Save(installKey, []byte(rec))
		cfg := w.config(mem)
		cfg.ServiceURL = hs.URL
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Close()
		hs.Close()
		info, err := telemetry.Parse([]string{log.last("/v1/apps/com.example.app/pins.json")})
		if err != nil || strings.Contains(rec, info.ID) {
			t.Errorf("record %.40q: header %+v %v", rec, info, err)
		}
		found := false
		for _, e := range w.eventsOf(EventRejected) {
			found = found || strings.Contains(e.Reason, "install id unreadable")
		}
		if !found {
			t.Errorf("record %.40q: replaced silently", rec)
		}
	}
}
