package edge

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
)

// issuer is a test OAuth issuer: a JWKS over TLS on loopback whose keys
// the test adds and removes (rotation with overlap), and tokens signed by
// them.
type issuer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	algs    map[string]string
	fetches atomic.Int32
	broken  atomic.Bool           // answer 500
	use     map[string]jwkset.USE // default sig
}

const testIssuer, testAudience = "https://issuer.test/", "pinset-api"

func newIssuer(t testing.TB) *issuer {
	is := &issuer{keys: map[string]crypto.Signer{}, algs: map[string]string{}, use: map[string]jwkset.USE{}}
	is.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		if is.broken.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		is.mu.Lock()
		st := jwkset.NewMemoryStorage()
		for kid, k := range is.keys {
			use, ok := is.use[kid]
			if !ok {
				use = jwkset.UseSig
			}
			j, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(is.algs[kid]), USE: use}})
			if err != nil {
				panic(err)
			}
			st.KeyWrite(r.Context(), j)
		}
		is.mu.Unlock()
		b, _ := st.JSONPublic(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// add publishes a new key of alg (RS256, ES256, EdDSA) under kid.
func (is *issuer) add(t testing.TB, kid, alg string) {
	var k crypto.Signer
	var err error
	switch alg {
	case "RS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys[kid], is.algs[kid] = k, alg
	is.mu.Unlock()
}

func (is *issuer) remove(kid string) {
	is.mu.Lock()
	delete(is.keys, kid)
	is.mu.Unlock()
}

// claims are a valid token's claims, for the test to change.
func claims(sub string, scopes ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": sub, "iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"scope": strings.Join(scopes, " "),
	}
}

func (is *issuer) token(t testing.TB, kid string, c jwt.MapClaims) string {
	is.mu.Lock()
	k, alg := is.keys[kid], is.algs[kid]
	is.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upstream echoes what the edge sent it.
type seen struct {
	Path    string
	Header  http.Header
	Verify  string
	Device  string
	User    string
	BodyLen int
}

var testIdentityKey = []byte(strings.Repeat("k", 48))

func newUpstream(t testing.TB) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{Path: r.URL.RequestURI(), Header: r.Header, BodyLen: len(b)}
		id, err := VerifyUpstream(r, testIdentityKey, time.Now(), time.Minute)
		if err != nil {
			s.Verify = err.Error()
		}
		s.Device, s.User = id.Device, id.User
		json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(u.Close)
	return u
}

// edgeFixture is a running edge on loopback with its device CA, CRL
// (served over TLS), issuer, upstream and the roots that trust its
// certificate.
type edgeFixture struct {
	dir      string
	root     *pki.CA // issues the edge's own certificate
	deviceCA *pki.CA
	crl      atomic.Pointer[[]byte]
	crlNum   atomic.Int64
	crlSrv   *httptest.Server
	issuer   *issuer
	upstream *httptest.Server
	srv      *Server
	addr     string
	log      *testtool.SyncBuffer
	logTo    io.Writer // default log
	// tokenCache is tokens.cache: "off" by default here, so that tests
	// see every key set change at once.
	tokenCache string
	// slow leaves the certificate, CRL and key set refresh at their
	// defaults' scale (1m) instead of the tests' milliseconds.
	slow   bool
	hup    chan struct{} // Serve's reload trigger (nil: none)
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func writeFile(t testing.TB, name string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, mode); err != nil {
		t.Fatal(err)
	}
}

// newEdgeFixture makes everything but the edge; start builds and runs it
// from a YAML configuration (extra is appended at the top level, routes
// replace the default ones).
func newEdgeFixture(t testing.TB) *edgeFixture {
	f := &edgeFixture{dir: t.TempDir(), log: &testtool.SyncBuffer{}, reg: prometheus.NewRegistry(), tokenCache: `"off"`}
	f.root = pki.Must(pki.NewRoot(pki.Template{CommonName: "edge test root"}))
	leaf := pki.Must(f.root.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	writeFile(t, filepath.Join(f.dir, "cert.pem"), leaf.ChainPEM(), 0o644)
	writeFile(t, filepath.Join(f.dir, "key.pem"), leaf.KeyPEM(), 0o600)
	writeFile(t, filepath.Join(f.dir, "identity.key"), testIdentityKey, 0o600)
	f.deviceCA = pki.Must(pki.NewRoot(pki.Template{CommonName: "device CA"}))
	writeFile(t, filepath.Join(f.dir, "device-ca.pem"), f.deviceCA.CertPEM(), 0o644)
	f.revoke(t)
	f.crlSrv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(*f.crl.Load())
	}))
	t.Cleanup(f.crlSrv.Close)
	writeFile(t, filepath.Join(f.dir, "crl-ca.pem"), pki.CertPEM(f.crlSrv.Certificate()), 0o644)
	f.issuer = newIssuer(t)
	writeFile(t, filepath.Join(f.dir, "issuer-ca.pem"), pki.CertPEM(f.issuer.srv.Certificate()), 0o644)
	f.upstream = newUpstream(t)
	return f
}

// another is a second edge instance with the same files, CA, issuer and
// upstream (start it with start).
func (f *edgeFixture) another() *edgeFixture {
	return &edgeFixture{dir: f.dir, root: f.root, deviceCA: f.deviceCA, crlSrv: f.crlSrv, issuer: f.issuer,
		upstream: f.upstream, log: f.log, reg: prometheus.NewRegistry()}
}

// revoke publishes a new CRL (a higher number) revoking the serials.
func (f *edgeFixture) revoke(t testing.TB, serials ...*big.Int) {
	now := time.Now()
	rl := &x509.RevocationList{Number: big.NewInt(f.crlNum.Add(1)), ThisUpdate: now.Add(-time.Second), NextUpdate: now.Add(time.Hour)}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, f.deviceCA.Cert, f.deviceCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	f.crl.Store(&der)
}

var deviceSerial atomic.Int64

// deviceCert issues a client certificate under ca.
func deviceCert(t testing.TB, ca *pki.CA) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1000 + deviceSerial.Add(1)), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}

const defaultRoutes = `
routes:
  - name: public
    path: /public/
    upstreams: [%UP%]
  - name: api
    path: /v1/
    upstreams: [%UP%]
    token: true
    scopes: [read]
  - name: device
    path: /device/
    upstreams: [%UP%]
    mtls: true
  - name: both
    path: /both
    upstreams: [%UP%]
    mtls: true
    token: true
`

func (f *edgeFixture) every(fast string) string {
	if f.slow {
		return "1m"
	}
	return fast
}

// config is the edge's YAML with the fixture's files; extra goes at the
// top level.
func (f *edgeFixture) config(extra string) string {
	c := `listen: 127.0.0.1:0
access_log: stderr
tls:
  cert_file: %DIR%/cert.pem
  key_file: %DIR%/key.pem
  reload_every: ` + f.every("50ms") + `
identity:
  key_file: %DIR%/identity.key
devices:
  ca_file: %DIR%/device-ca.pem
  crl: %CRL%
  crl_ca_file: %DIR%/crl-ca.pem
  refresh: ` + f.every("300ms") + `
`
	if f.issuer != nil {
		c += `tokens:
  jwks_url: %JWKS%
  jwks_ca_file: %DIR%/issuer-ca.pem
  issuer: ` + testIssuer + `
  audience: ` + testAudience + `
  skew: 5s
  refresh: ` + f.every("300ms") + `
  cache: ` + f.tokenCache + `
`
	}
	if !strings.Contains(extra, "routes:") {
		c += defaultRoutes
	}
	c += extra
	r := strings.NewReplacer("%DIR%", f.dir, "%CRL%", f.crlSrv.URL+"/crl", "%UP%", f.upstream.URL)
	if f.issuer != nil {
		r = strings.NewReplacer("%DIR%", f.dir, "%CRL%", f.crlSrv.URL+"/crl", "%UP%", f.upstream.URL, "%JWKS%", f.issuer.srv.URL+"/jwks.json")
	}
	return r.Replace(c)
}

// start builds the edge from config(extra) and serves it until the test
// ends.
func (f *edgeFixture) start(t testing.TB, extra string) {
	t.Helper()
	name := filepath.Join(f.dir, "edge.yaml")
	writeFile(t, name, []byte(f.config(extra)), 0o644)
	file, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log io.Writer = f.log
	if f.logTo != nil {
		log = f.logTo
	}
	srv, err := file.Build(ctx, Options{Registry: f.reg, Log: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f.srv, f.addr, f.cancel, f.done = srv, ln.Addr().String(), cancel, make(chan error, 1)
	go func() { f.done <- srv.Serve(ctx, ln, f.hup) }()
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil && err != http.ErrServerClosed {
			t.Errorf("edge: %v", err)
		}
	})
}

// client trusts the edge's root and presents certs (if any), keep-alive.
func (f *edgeFixture) client(certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(f.root.Cert)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends a request and returns the status, what the upstream saw (when
// it was reached) and the response.
func (f *edgeFixture) do(t testing.TB, c *http.Client, req *http.Request) (int, seen, *http.Response) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s seen
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: upstream answer %q: %v", req.URL.Path, b, err)
		}
	}
	return resp.StatusCode, s, resp
}

func (f *edgeFixture) req(t testing.TB, method, path, token string) *http.Request {
	r, err := http.NewRequest(method, "https://"+f.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}
