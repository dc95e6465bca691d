package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// This file is the test's pin service: a small repository simulator that
// signs roots and manifests with real keys and serves them over net/http on
// 127.0.0.1 at the documented paths, with ETags, and records the reports
// POSTed to it. Tests bump versions, rotate keys, replay old documents and
// switch the endpoint into failure modes.

// A fixed clock for the tests: documents are issued around it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

// failure modes of the pin endpoint
const (
	modeOK = iota
	modeDown
	mode404
	modeHTML
	modeGarbage
	modeEndless
	modeTrickle
	mode500
)

type gotReport struct {
	Path string
	Body []byte
}

type repo struct {
	t   testing.TB
	app string
	rnd io.Reader

	mu        sync.Mutex
	rootKeys  []*trust.Signer
	pinsKeys  []*trust.Signer
	root      *trust.Root
	roots     map[uint64][]byte
	manifest  []byte
	manifests map[uint64][]byte
	mversion  uint64

	mode    atomic.Int32
	gets    atomic.Int64
	srv     *httptest.Server
	reports chan gotReport
}

// newRepo starts a repository for app whose keys derive from seed.
func newRepo(t testing.TB, app, seed string) *repo {
	t.Helper()
	r := &repo{t: t, app: app, rnd: pki.NewDeterministicRand("repo-" + seed), roots: map[uint64][]byte{}, manifests: map[uint64][]byte{}, reports: make(chan gotReport, 64)}
	for range 3 {
		r.rootKeys = append(r.rootKeys, r.genKey())
	}
	r.pinsKeys = []*trust.Signer{r.genKey()}
	r.root = &trust.Root{AppID: app, Version: 1, Expires: t0.Add(5 * 365 * 24 * time.Hour)}
	r.setRoles()
	r.roots[1] = r.signRoot(r.root, r.rootKeys[:2], nil)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *repo) genKey() *trust.Signer {
	s, err := trust.GenerateKey(trust.ECDSAP256SHA256, r.rnd)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *repo) setRoles() {
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

func (r *repo) signRoot(root *trust.Root, signers, oldSigners []*trust.Signer) []byte {
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

// rootBytes returns root version v as served.
func (r *repo) rootBytes(v uint64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roots[v]
}

// rotateRoot publishes root N+1 with a new pins key (and, when newRootKeys,
// new root keys), signed by old and new root keys.
func (r *repo) rotateRoot(newRootKeys bool) {
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

// publish signs manifest version v (0: the next one) with the given
// hosts, issued at issued and expiring after ttl, and serves it.
func (r *repo) publish(v uint64, issued time.Time, ttl time.Duration, hosts ...policy.Policy) []byte {
	b := r.sign(v, issued, ttl, hosts...)
	r.serveManifest(b)
	return b
}

// sign makes a manifest without publishing it.
func (r *repo) sign(v uint64, issued time.Time, ttl time.Duration, hosts ...policy.Policy) []byte {
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
	r.manifests[v] = b
	return b
}

// serveManifest makes b the served manifest (used to replay old ones).
func (r *repo) serveManifest(b []byte) {
	r.mu.Lock()
	r.manifest = b
	r.mu.Unlock()
}

func etagOf(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:8]) + `"`
}

func (r *repo) url() string { return r.srv.URL }

func (r *repo) serve(w http.ResponseWriter, req *http.Request) {
	prefix := "/v1/apps/" + r.app + "/"
	if req.Method == http.MethodPost {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		select {
		case r.reports <- gotReport{Path: req.URL.Path, Body: b}:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	r.gets.Add(1)
	switch r.mode.Load() {
	case modeDown:
		// Close the connection without an answer.
		hj, ok := w.(http.Hijacker)
		if ok {
			c, _, _ := hj.Hijack()
			c.Close()
		}
		return
	case mode404:
		http.NotFound(w, req)
		return
	case mode500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case modeHTML:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Captive portal: please log in</body></html>")
		return
	case modeGarbage:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"payloadType\": \x00\xff garbage"))
		return
	case modeEndless:
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("{", 32<<10))
		for req.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	case modeTrickle:
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
	et := etagOf(body)
	w.Header().Set("ETag", et)
	if req.Header.Get("If-None-Match") == et {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// waitReport waits for a report POSTed to the repository.
func (r *repo) waitReport(t testing.TB, d time.Duration) gotReport {
	t.Helper()
	select {
	case rep := <-r.reports:
		return rep
	case <-time.After(d):
		t.Fatal("no report arrived")
	}
	return gotReport{}
}

// backend is a real HTTPS server on loopback whose certificate can be
// switched at run time (key rotation, interception).
type backend struct {
	srv       *httptest.Server
	cert      atomic.Pointer[tls.Certificate]
	clientCAs atomic.Pointer[x509.CertPool] // when set, a client certificate is required
	host      string
	port      int
}

func newBackend(t testing.TB, leaf *pki.Leaf) *backend {
	t.Helper()
	b := &backend{}
	b.setLeaf(leaf)
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))
	// httptest puts its own certificate in Certificates, which Go serves to
	// clients without SNI (IP literals); a per-connection config avoids it.
	b.srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert := b.cert.Load()
		cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h2", "http/1.1"}}
		// Session tickets are bound to the certificate served, so that a
		// switched certificate stands for a different server (an
		// interceptor cannot resume the real server's sessions).
		cfg.SetSessionTicketKeys([][32]byte{sha256.Sum256(cert.Certificate[0])})
		if pool := b.clientCAs.Load(); pool != nil {
			cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		return cfg, nil
	}}
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	host, port, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	b.host = host
	b.port, _ = strconv.Atoi(port)
	return b
}

func (b *backend) setLeaf(l *pki.Leaf) {
	c := l.TLSCertificate()
	b.cert.Store(&c)
}

// url returns https://NAME:PORT/path for a name resolved to the backend
// by the test dialer.
func (b *backend) url(path string) string {
	return "https://" + net.JoinHostPort(b.host, strconv.Itoa(b.port)) + path
}

// pol is a shorthand for a policy.
func pol(pattern string, pins ...pin.Pin) policy.Policy {
	return policy.Policy{Pattern: pattern, Pins: pins}
}
