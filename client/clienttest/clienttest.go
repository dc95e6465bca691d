// Package clienttest is a pin service for tests: a repository simulator
// that signs roots and manifests with real keys and serves them over
// net/http on 127.0.0.1 at the documented paths (/v1/apps/{app}/roots/{N}.json,
// /v1/apps/{app}/pins.json, with ETags), records the reports POSTed to it,
// and can be switched into failure modes (down, 404, HTML, garbage, an
// endless or trickling body). Tests bump versions, rotate keys and replay
// old documents with it. It also has a loopback HTTPS backend whose
// certificate can be switched at run time.
//
// It is for tests of package client, package mobile and the pinset
// command; nothing in it is fit for production.
package clienttest

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// TB is the part of testing.TB the simulator uses (testscript commands
// adapt to it too).
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// T0 is the fixed time tests start at: documents are issued around it.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable clock safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { c := &Clock{}; c.ns.Store(t.UnixNano()); return c }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Failure modes of the pin endpoint, set with Repo.Mode.Store.
const (
	ModeOK = iota
	ModeDown
	Mode404
	ModeHTML
	ModeGarbage
	ModeEndless
	ModeTrickle
	Mode500
)

// Report is a request body POSTed to the repository.
type Report struct {
	Path string
	Body []byte
}

// Repo is the simulated pin service of one app. Mode selects a failure
// mode; Gets counts GET requests; Reports receives POSTed bodies; Srv is the
// plain-HTTP server on 127.0.0.1; Manifests holds every manifest signed,
// by version.
type Repo struct {
	t   TB
	app string
	rnd io.Reader

	mu        sync.Mutex
	rootKeys  []*trust.Signer
	pinsKeys  []*trust.Signer
	root      *trust.Root
	roots     map[uint64][]byte
	manifest  []byte
	Manifests map[uint64][]byte
	mversion  uint64

	Mode atomic.Int32
	// FailNext makes that many of the next GETs fail as in Mode500,
	// whatever Mode says: a single lost fetch (a closed connection would
	// not do: net/http retries an idempotent request on a reused
	// connection closed before any answer, so the client would not see
	// it).
	FailNext atomic.Int32
	Gets     atomic.Int64
	Srv      *httptest.Server
	Reports  chan Report
}

// NewRepo starts a repository for app whose keys derive from seed.
func NewRepo(t TB, app, seed string) *Repo {
	t.Helper()
	r := &Repo{t: t, app: app, rnd: pki.NewDeterministicRand("repo-" + seed), roots: map[uint64][]byte{}, Manifests: map[uint64][]byte{}, Reports: make(chan Report, 64)}
	for range 3 {
		r.rootKeys = append(r.rootKeys, r.genKey())
	}
	r.pinsKeys = []*trust.Signer{r.genKey()}
	r.root = &trust.Root{AppID: app, Version: 1, Expires: T0.Add(5 * 365 * 24 * time.Hour)}
	r.setRoles()
	r.roots[1] = r.signRoot(r.root, r.rootKeys[:2], nil)
	r.Srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Srv.Close)
	return r
}

func (r *Repo) genKey() *trust.Signer {
	s, err := trust.GenerateKey(trust.ECDSAP256SHA256, r.rnd)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *Repo) setRoles() {
	r.root.Keys = nil
	r.root.RootRole = trust.Role{Threshold: 2}
	r.root.PinsRole = trust.Role{Threshold: 1}
	for _, k := range r.rootKeys {
		r.root.Keys = append(r.root.Keys, k.Key)
		r.root.RootRole.KeyIDs = append(r.root.RootRole.KeyIDs, k.Key.ID)
	}
	for _, k := range r.pinsKeys {
		r.root.Keys = append(r.root.Keys, k.Key)
		r.root.PinsRole.KeyIDs = append(r.root.PinsRole.KeyIDs, k.Key.ID)
	}
}

func (r *Repo) signRoot(root *trust.Root, signers, oldSigners []*trust.Signer) []byte {
	env, err := root.Envelope()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, s := range append(append([]*trust.Signer{}, oldSigners...), signers...) {
		if _, err := env.Sign(s, r.rnd); err != nil {
			r.t.Fatal(err)
		}
	}
	b, err := env.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// RootBytes returns root version v as served.
func (r *Repo) RootBytes(v uint64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roots[v]
}

// RotateRoot publishes root N+1 with a new pins key (and, when newRootKeys,
// new root keys), signed by old and new root keys.
func (r *Repo) RotateRoot(newRootKeys bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.rootKeys[:2]
	if newRootKeys {
		r.rootKeys = []*trust.Signer{r.genKey(), r.genKey(), r.genKey()}
	}
	r.pinsKeys = []*trust.Signer{r.genKey()}
	next := *r.root
	next.Version++
	r.root = &next
	r.setRoles()
	r.roots[next.Version] = r.signRoot(r.root, r.rootKeys[:2], old)
}

// Publish signs manifest version v (0: the next one) with the given
// hosts, issued at issued and expiring after ttl, and serves it.
func (r *Repo) Publish(v uint64, issued time.Time, ttl time.Duration, hosts ...policy.Policy) []byte {
	b := r.Sign(v, issued, ttl, hosts...)
	r.ServeManifest(b)
	return b
}

// Sign makes a manifest without publishing it.
func (r *Repo) Sign(v uint64, issued time.Time, ttl time.Duration, hosts ...policy.Policy) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v == 0 {
		v = r.mversion + 1
	}
	m := &trust.Manifest{AppID: r.app, Version: v, RootVersion: r.root.Version, IssuedAt: issued, Expires: issued.Add(ttl), Hosts: hosts}
	env, err := m.Envelope()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, s := range r.pinsKeys {
		if _, err := env.Sign(s, r.rnd); err != nil {
			r.t.Fatal(err)
		}
	}
	b, err := env.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	if v > r.mversion {
		r.mversion = v
	}
	r.Manifests[v] = b
	return b
}

// ServeManifest makes b the served manifest (used to replay old ones).
func (r *Repo) ServeManifest(b []byte) {
	r.mu.Lock()
	r.manifest = b
	r.mu.Unlock()
}

// ETagOf is the strong ETag the repository gives a document.
func ETagOf(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:8]) + `"`
}

// URL is the repository's base URL.
func (r *Repo) URL() string { return r.Srv.URL }

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	prefix := "/v1/apps/" + r.app + "/"
	if req.Method == http.MethodPost {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		select {
		case r.Reports <- Report{Path: req.URL.Path, Body: b}:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	r.Gets.Add(1)
	mode := r.Mode.Load()
	for n := r.FailNext.Load(); n > 0; n = r.FailNext.Load() {
		if r.FailNext.CompareAndSwap(n, n-1) {
			mode = Mode500
			break
		}
	}
	switch mode {
	case ModeDown:
		// Close the connection without an answer.
		hj, ok := w.(http.Hijacker)
		if ok {
			c, _, _ := hj.Hijack()
			c.Close()
		}
		return
	case Mode404:
		http.NotFound(w, req)
		return
	case Mode500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case ModeHTML:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Captive portal: please log in</body></html>")
		return
	case ModeGarbage:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"payloadType\": \x00\xff garbage"))
		return
	case ModeEndless:
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("{", 32<<10))
		for req.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	case ModeTrickle:
		w.Header().Set("Content-Type", "application/json")
		for req.Context().Err() == nil {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-req.Context().Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		return
	}
	rest, ok := strings.CutPrefix(req.URL.Path, prefix)
	if !ok {
		http.NotFound(w, req)
		return
	}
	var body []byte
	r.mu.Lock()
	switch {
	case rest == "pins.json":
		body = r.manifest
	case strings.HasPrefix(rest, "roots/") && strings.HasSuffix(rest, ".json"):
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(rest, "roots/"), ".json"), 10, 64)
		if err == nil {
			body = r.roots[n]
		}
	}
	r.mu.Unlock()
	if body == nil {
		http.NotFound(w, req)
		return
	}
	et := ETagOf(body)
	w.Header().Set("ETag", et)
	if req.Header.Get("If-None-Match") == et {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// WaitReport waits for a report POSTed to the repository.
func (r *Repo) WaitReport(t TB, d time.Duration) Report {
	t.Helper()
	select {
	case rep := <-r.Reports:
		return rep
	case <-time.After(d):
		t.Fatal("no report arrived")
	}
	return Report{}
}

// Backend is a real HTTPS server on loopback whose certificate can be
// switched at run time (key rotation, interception).
type Backend struct {
	Srv       *httptest.Server
	cert      atomic.Pointer[tls.Certificate]
	ClientCAs atomic.Pointer[x509.CertPool] // when set, a client certificate is required
	Host      string
	Port      int
}

// NewBackend starts an HTTPS server on 127.0.0.1 serving leaf; it answers
// every request with "hello from HOST".
func NewBackend(t TB, leaf *pki.Leaf) *Backend {
	t.Helper()
	b := &Backend{}
	b.SetLeaf(leaf)
	b.Srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /status/CODE answers with that status (and the same body).
		if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/")); err == nil && code >= 200 && code <= 599 {
			w.WriteHeader(code)
		}
		// /authorization answers the request's Authorization header (the
		// tests of access tokens read what the client sent).
		if r.URL.Path == "/authorization" {
			fmt.Fprint(w, r.Header.Get("Authorization"))
			return
		}
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))
	// httptest puts its own certificate in Certificates, which Go serves to
	// clients without SNI (IP literals); a per-connection config avoids it.
	b.Srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert := b.cert.Load()
		cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h2", "http/1.1"}}
		// Session tickets are bound to the certificate served, so that a
		// switched certificate stands for a different server (an
		// interceptor cannot resume the real server's sessions).
		cfg.SetSessionTicketKeys([][32]byte{sha256.Sum256(cert.Certificate[0])})
		if pool := b.ClientCAs.Load(); pool != nil {
			cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		return cfg, nil
	}}
	b.Srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of many tests
	b.Srv.StartTLS()
	t.Cleanup(b.Srv.Close)
	host, port, _ := net.SplitHostPort(b.Srv.Listener.Addr().String())
	b.Host = host
	b.Port, _ = strconv.Atoi(port)
	return b
}

// SetLeaf switches the certificate served to new connections.
// Connections already open keep the certificate they were made with.
func (b *Backend) SetLeaf(l *pki.Leaf) {
	c := l.TLSCertificate()
	b.cert.Store(&c)
}

// URL returns https://127.0.0.1:PORT/path.
func (b *Backend) URL(path string) string {
	return "https://" + net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) + path
}

// Pol is a shorthand for a policy.
func Pol(pattern string, pins ...pin.Pin) policy.Policy {
	return policy.Policy{Pattern: pattern, Pins: pins}
}
