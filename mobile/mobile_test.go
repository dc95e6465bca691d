package mobile

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
)

// The mobile client's own certificates are checked at the real time (apps
// have no injected clock), so this test issues them around now.
type fixture struct {
	repo    *ct.Repo
	backend *ct.Backend
	ca      *pki.CA
	inter   *pki.CA
	live    *pki.Leaf
	backup  *pki.Leaf
	cfg     *Config
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.ca = pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("m-ca")}))
	f.inter = pki.Must(f.ca.NewIntermediate(pki.Template{Rand: pki.NewDeterministicRand("m-inter")}))
	f.live = pki.Must(f.inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("m-live")}))
	f.backup = pki.Must(f.inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("m-backup")}))
	f.backend = ct.NewBackend(t, f.live)
	f.repo = ct.NewRepo(t, "com.example.mobile", "mobile")
	now := time.Now().UTC().Truncate(time.Second)
	m1 := f.repo.Publish(1, now.Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", f.live.Pin(), f.backup.Pin()))
	f.cfg = NewConfig()
	f.cfg.BundledRoot = f.repo.RootBytes(1)
	f.cfg.BundledManifest = m1
	f.cfg.ServiceURL = f.repo.URL()
	f.cfg.ExtraRootsPEM = f.ca.CertPEM()
	f.cfg.CacheDir = t.TempDir()
	f.cfg.Platform = "ANDROID"
	f.cfg.FetchTimeoutSeconds = 5
	return f
}

type events struct {
	mu sync.Mutex
	ev []*Event
}

func (e *events) OnEvent(ev *Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.ev {
		out = append(out, ev.Kind)
	}
	return out
}

func TestMobileClient(t *testing.T) {
	f := newFixture(t)
	h := &events{}
	c, err := NewClient(f.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Fetch(f.backend.URL("/x"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(resp.Body), "hello from") {
		t.Fatalf("response %d %q", resp.StatusCode, resp.Body)
	}
	var pins struct {
		AppID           string `json:"app_id"`
		ManifestVersion int64  `json:"manifest_version"`
		Hosts           []struct {
			Pattern string   `json:"pattern"`
			Pins    []string `json:"pins"`
		} `json:"hosts"`
	}
	js, err := c.CurrentPinsJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), &pins); err != nil {
		t.Fatal(err)
	}
	if pins.AppID != "com.example.mobile" || pins.ManifestVersion != 1 || len(pins.Hosts) != 1 || pins.Hosts[0].Pins[0] != f.live.Pin().String() {
		t.Fatalf("CurrentPinsJSON = %s", js)
	}

	// A new manifest through Refresh; the rotation works without restart.
	f.repo.Publish(2, time.Now().UTC().Add(-time.Minute), 30*24*time.Hour, ct.Pol("127.0.0.1", f.backup.Pin(), f.live.Pin()))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if c.ManifestVersion() != 2 || c.IsStale() {
		t.Fatalf("version %d stale %v", c.ManifestVersion(), c.IsStale())
	}
	f.backend.SetLeaf(f.backup)
	if _, err := c.Request("POST", f.backend.URL("/y"), []byte("hi"), `{"X-Test":"1"}`); err != nil {
		t.Fatal(err)
	}

	// An interceptor from the trusted CA is refused and reported.
	evil := pki.Must(f.inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("m-evil")}))
	f.backend.SetLeaf(evil)
	c.CloseIdleConnections()
	_, err = c.Fetch(f.backend.URL("/z"))
	if !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("interceptor: %v", err)
	}
	rep := f.repo.WaitReport(t, 5*time.Second)
	if !strings.Contains(string(rep.Body), `"app-platform":"ANDROID"`) {
		t.Errorf("report %s", rep.Body)
	}
	got := strings.Join(h.kinds(), ",")
	for _, k := range []string{"updated", "pin-failure"} {
		if !strings.Contains(got, k) {
			t.Errorf("events %s lack %s", got, k)
		}
	}
}

// memStore is what an app's secure-storage Store looks like.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) Load(k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k], nil
}

func (s *memStore) Save(k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = append([]byte(nil), v...)
	return nil
}

func TestMobileStoreAndJSONConfig(t *testing.T) {
	f := newFixture(t)
	store := &memStore{m: map[string][]byte{}}
	c, err := NewClientWithStore(f.cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.repo.Publish(2, time.Now().UTC().Add(-time.Minute), 30*24*time.Hour, ct.Pol("127.0.0.1", f.backup.Pin(), f.live.Pin()))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The verified state and the telemetry install id (docs/client.md).
	if len(store.m) != 2 || store.m["pinset-install.json"] == nil {
		t.Fatalf("store holds %d keys", len(store.m))
	}
	// A second run from JSON config and the same store starts at v2.
	f.cfg.CacheDir = ""
	js, _ := json.Marshal(f.cfg)
	if !strings.Contains(string(js), base64.StdEncoding.EncodeToString(f.cfg.BundledRoot[:30])[:20]) {
		t.Fatal("config JSON does not carry bytes as base64")
	}
	c2, err := NewClientWithStore(f.cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.ManifestVersion() != 2 {
		t.Fatalf("restart from store: v%d", c2.ManifestVersion())
	}
	c3, err := NewClientJSON(string(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.Fetch(f.backend.URL("/")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClientJSON(`{"BundledRoot":"AA==","Nope":1}`, nil); err == nil {
		t.Error("unknown config field accepted")
	}

	// The opt-out: no install id is kept.
	f.cfg.NoTelemetry = true
	quiet := &memStore{m: map[string][]byte{}}
	c4, err := NewClientWithStore(f.cfg, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if err := c4.Refresh(); err != nil {
		t.Fatal(err)
	}
	if quiet.m["pinset-install.json"] != nil {
		t.Error("NoTelemetry kept an install id")
	}
}

// gobind generates the Java and Objective-C bindings of this package: the
// API uses only types gomobile supports.
func TestGobindGeneratesBindings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gobind")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the go tool is needed to build gobind")
		}
		t.Skip("go tool not found")
	}
	tmp := t.TempDir()
	gobind := filepath.Join(tmp, "gobind")
	build := exec.Command(goTool, "build", "-o", gobind, "golang.org/x/mobile/cmd/gobind")
	if out, err := build.CombinedOutput(); err != nil {
		msg := "building gobind (golang.org/x/mobile is in go.mod; `go mod download golang.org/x/mobile` fetches it): " + err.Error() + "\n" + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out := filepath.Join(tmp, "out")
	cmd := exec.Command(gobind, "-lang=go,java,objc", "-outdir", out, "pinset.dev/pinset/mobile")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gobind: %v\n%s", err, b)
	}
	want := map[string][]string{
		"java/mobile/Mobile.java":       {"newClient(Config cfg, EventHandler handler)", "newClientJSON(String configJSON", "newClientWithStore(", "void onEvent(Event e)", "byte[] load(String key)"},
		"java/mobile/Client.java":       {"Response fetch(String url)", "Response request(String method, String url, byte[] body, String headersJSON)", "void refresh()", "String currentPinsJSON()", "long manifestVersion()", "void start()", "void close()", "void closeIdleConnections()", "long lastRefreshUnixSeconds()", "boolean isOverdue()", "void checkServerTrusted(String host, long port, byte[] verifiedChain)", "void enrollDevice(String token)", "void setAccessTokens(AccessTokens t)", "String okHttpPinsJSON(long okhttpVersion)", "String trustKitConfigJSON()"},
		"java/mobile/Config.java":       {"getBundledRoot()", "setServiceURL(String v)", "getRefreshIntervalSeconds()", "getOverdueAfterSeconds()", "setNoTelemetry(boolean v)"},
		"java/mobile/Response.java":     {"getStatusCode()", "getBody()"},
		"java/mobile/Event.java":        {"getKind()", "getReason()"},
		"src/gobind/Mobile.objc.h":      {"MobileNewClient(MobileConfig*", "MobileNewClientWithStore(", "- (MobileResponse* _Nullable)fetch:(NSString* _Nullable)url", "- (BOOL)refresh:", "- (NSString* _Nonnull)currentPinsJSON:", "- (BOOL)checkServerTrusted:(NSString* _Nullable)host port:(long)port verifiedChain:(NSData* _Nullable)verifiedChain error:(NSError* _Nullable* _Nullable)error;", "- (NSString* _Nonnull)okHttpPinsJSON:(long)okhttpVersion error:", "@protocol MobileEventHandler", "- (void)onEvent:(MobileEvent* _Nullable)e;"},
		"src/gobind/Mobile_darwin.m":    {"MobileNewClient"},
		"src/gobind/go_mobilemain.go":   {"pinset.dev/pinset/mobile"},
		"src/gobind/mobile_android.c":   {"Java_mobile_Mobile_newClient"},
		"src/gobind/Universe.objc.h":    {"Universe"},
		"java/go/Seq.java":              {"class Seq"},
		"src/gobind/seq_android.go":     {"package main"},
		"src/gobind/seq_darwin.go":      {"package main"},
		"java/mobile/Store.java":        {"load(String key)", "save(String key, byte[] value)"},
		"java/mobile/EventHandler.java": {"onEvent(Event e)"},
	}
	for file, needles := range want {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Errorf("binding file missing: %v", err)
			continue
		}
		for _, n := range needles {
			if !strings.Contains(string(b), n) {
				t.Errorf("%s does not mention %q", file, n)
			}
		}
	}
	// gobind marks what it cannot bind; nothing of the API may be skipped.
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "skipped") {
				t.Errorf("%s: gobind skipped part of the API", p)
			}
		}
		return nil
	})
}

// A ServiceURL with a password and query token, and a request URL with
// both: no event, Refresh error or Fetch error carries them.
func TestMobileRedactsURLCredentials(t *testing.T) {
	f := newFixture(t)
	f.cfg.ServiceURL = strings.Replace(f.repo.URL(), "http://", "http://user:SECRET@", 1) + "/?key=SECRET"
	h := &events{}
	c, err := NewClient(f.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var text []string
	f.repo.Mode.Store(ct.Mode500)
	if err := c.Refresh(); err == nil {
		t.Fatal("refresh against a failing service succeeded")
	} else {
		text = append(text, err.Error())
	}
	if _, err := c.Fetch("https://user:SECRET@127.0.0.1:1/x?token=SECRET"); err == nil {
		t.Fatal("fetch from port 1 succeeded")
	} else {
		text = append(text, err.Error())
	}
	h.mu.Lock()
	for _, e := range h.ev {
		text = append(text, e.Kind+" "+e.Reason)
	}
	h.mu.Unlock()
	all := strings.Join(text, "\n")
	if strings.Contains(all, "SECRET") || !strings.Contains(all, "redacted@127.0.0.1") {
		t.Fatalf("events and errors:\n%s", all)
	}
}

// The freeze signal through the mobile API: the time of the last
// successful refresh, IsOverdue, the "overdue" event and CurrentPinsJSON.
// (The mobile API has no injected clock: a one-second OverdueAfter.)
func TestMobileOverdue(t *testing.T) {
	f := newFixture(t)
	f.cfg.OverdueAfterSeconds = 1
	h := &events{}
	c, err := NewClient(f.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LastRefreshUnixSeconds() != 0 || c.IsOverdue() {
		t.Fatalf("before any refresh: last %d, overdue %v", c.LastRefreshUnixSeconds(), c.IsOverdue())
	}
	before := time.Now().Unix()
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if last := c.LastRefreshUnixSeconds(); last < before || last > time.Now().Unix() {
		t.Fatalf("last refresh %d, want about %d", last, before)
	}
	f.repo.Mode.Store(ct.ModeDown)
	time.Sleep(1100 * time.Millisecond)
	if c.Refresh() == nil {
		t.Fatal("refresh against a down service succeeded")
	}
	if !c.IsOverdue() || !slices.Contains(h.kinds(), "overdue") {
		t.Fatalf("overdue %v, events %v", c.IsOverdue(), h.kinds())
	}
	js, _ := c.CurrentPinsJSON()
	if !strings.Contains(js, `"overdue":true`) || !strings.Contains(js, `"last_refresh":"`) {
		t.Errorf("CurrentPinsJSON = %s", js)
	}
}

// The self-heal through the mobile API: the backend switched to a key only
// manifest v2 pins; a POST (any method: the second handshake happens
// before anything is sent) succeeds after one refresh, with a "healed"
// event; with NoHealOnFailure it is refused.
func TestMobileHealOnPinFailure(t *testing.T) {
	f := newFixture(t)
	next := pki.Must(f.inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("m-next")}))
	f.backend.SetLeaf(next)
	f.repo.Publish(2, time.Now().UTC().Add(-time.Minute), 30*24*time.Hour, ct.Pol("127.0.0.1", next.Pin(), f.backup.Pin()))

	off := *f.cfg
	off.NoHealOnFailure = true
	off.CacheDir = t.TempDir()
	c0, err := NewClient(&off, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if _, err := c0.Request("POST", f.backend.URL("/y"), []byte("hi"), `{}`); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("NoHealOnFailure: want a pin failure, got %v", err)
	}

	h := &events{}
	c, err := NewClient(f.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Request("POST", f.backend.URL("/y"), []byte("hi"), `{}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healed POST: %v", err)
	}
	if c.ManifestVersion() != 2 || !slices.Contains(h.kinds(), "pin-failure") || !slices.Contains(h.kinds(), "healed") {
		t.Fatalf("manifest v%d, events %v", c.ManifestVersion(), h.kinds())
	}
}

type hostTokens map[string]string

func (h hostTokens) Token(host string) (string, error) { return h[host], nil }

// TestMobileAccessTokens: the app's access tokens (an interface the app
// implements in Java or Swift) go with pinned requests to the hosts it
// names, as "Authorization: Bearer"; removed, none is sent. A device
// identity cannot be enrolled unless configured, nor combined with a
// fixed client certificate.
func TestMobileAccessTokens(t *testing.T) {
	f := newFixture(t)
	c, err := NewClient(f.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func() string {
		t.Helper()
		resp, err := c.Fetch(f.backend.URL("/authorization"))
		if err != nil {
			t.Fatal(err)
		}
		return string(resp.Body)
	}
	if got := read(); got != "" {
		t.Fatalf("without tokens: %q", got)
	}
	c.SetAccessTokens(hostTokens{"127.0.0.1": "tok-1"})
	if got := read(); got != "Bearer tok-1" {
		t.Fatalf("with tokens: %q", got)
	}
	c.SetAccessTokens(hostTokens{"api.example.com": "tok-2"})
	if got := read(); got != "" {
		t.Fatalf("a token for another host was sent: %q", got)
	}
	c.SetAccessTokens(nil)
	if got := read(); got != "" {
		t.Fatalf("after removal: %q", got)
	}
	if err := c.EnrollDevice("pinset_enroll_x"); err == nil {
		t.Fatal("EnrollDevice without DeviceIdentity succeeded")
	}
	cfg := *f.cfg
	cfg.DeviceIdentity = true
	leaf := pki.Must(f.ca.NewLeaf(pki.Template{Hosts: []string{"device"}}))
	cfg.ClientCertPEM, cfg.ClientKeyPEM = leaf.CertPEM(), leaf.KeyPEM()
	if _, err := NewClient(&cfg, nil); err == nil || !strings.Contains(err.Error(), "DeviceIdentity") {
		t.Fatalf("DeviceIdentity with ClientCertPEM: %v", err)
	}
}
