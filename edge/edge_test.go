package edge

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

// TestTokensRefused: every token the brief names is refused with 401 and
// never reaches the upstream; valid RS256, ES256 and EdDSA tokens pass and
// the upstream sees the user, authenticated.
func TestTokensRefused(t *testing.T) {
	f := newEdgeFixture(t)
	for _, k := range []struct{ kid, alg string }{{"rsa", "RS256"}, {"ec", "ES256"}, {"ed", "EdDSA"}, {"enc", "ES256"}, {"nouse", "ES256"}} {
		f.issuer.add(t, k.kid, k.alg)
	}
	f.issuer.use["enc"], f.issuer.use["nouse"] = jwkset.UseEnc, ""
	f.start(t, "")
	c := f.client()
	for _, kid := range []string{"rsa", "ec", "ed", "nouse"} {
		code, s, _ := f.do(t, c, f.req(t, "GET", "/v1/items?x=1", f.issuer.token(t, kid, claims("alice", "read"))))
		if code != 200 || s.User != "alice" || s.Verify != "" || s.Path != "/v1/items?x=1" {
			t.Errorf("%s token: %d, upstream saw %+v", kid, code, s)
		}
	}

	with := func(change func(jwt.MapClaims)) string {
		c := claims("alice", "read")
		change(c)
		return f.issuer.token(t, "ec", c)
	}
	// alg none: jwt's "none" method needs its marker constant to sign.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("alice", "read")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// HS256 keyed with the issuer's public key, the classic algorithm
	// confusion (RFC 8725 section 2.1): the verifier must not let the
	// token choose HMAC.
	f.issuer.mu.Lock()
	pub, _ := pki.PublicKeyPEM(f.issuer.keys["rsa"].Public())
	f.issuer.mu.Unlock()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("alice", "read"))
	hs.Header["kid"] = "rsa"
	confused, _ := hs.SignedString(pub)
	// An RS256 token whose signature is another key's.
	forged := f.issuer.token(t, "rsa", claims("alice", "read"))
	other := f.issuer.token(t, "ec", claims("mallory", "read"))
	forged = forged[:strings.LastIndex(forged, ".")] + other[strings.LastIndex(other, "."):]
	// A token under a key the issuer never published.
	stranger := &issuer{keys: map[string]crypto.Signer{}, algs: map[string]string{}}
	stranger.add(t, "unpublished", "ES256")
	unknown := stranger.token(t, "unpublished", claims("alice", "read"))

	for _, tc := range []struct{ name, auth string }{
		{"missing", ""},
		{"not bearer", "Basic YWxpY2U6cHc="},
		{"expired", "Bearer " + with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })},
		{"no exp", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"not yet valid", "Bearer " + with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Minute).Unix() })},
		{"other issuer", "Bearer " + with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" })},
		{"other audience", "Bearer " + with(func(c jwt.MapClaims) { c["aud"] = "other-api" })},
		{"no sub", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "sub") })},
		{"alg none", "Bearer " + none},
		{"HS256 with the public key", "Bearer " + confused},
		{"wrong signature", "Bearer " + forged},
		{"unknown kid", "Bearer " + unknown},
		{"key for encryption", "Bearer " + f.issuer.token(t, "enc", claims("alice", "read"))},
		{"garbage", "Bearer not.a.jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.req(t, "GET", "/v1/items", "")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			code, _, resp := f.do(t, c, r)
			if code != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%d %q, want 401 with a Bearer challenge", code, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// A valid token without the route's scope: 403 insufficient_scope.
	code, _, resp := f.do(t, c, f.req(t, "GET", "/v1/items", f.issuer.token(t, "ec", claims("alice", "write"))))
	if code != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("token without scope read: %d %q, want 403 insufficient_scope", code, resp.Header.Get("WWW-Authenticate"))
	}
	// The access log names the user but holds no token.
	tok := f.issuer.token(t, "ec", claims("alice", "read"))
	f.do(t, c, f.req(t, "GET", "/v1/items?access_token="+tok, tok))
	log := f.log.String()
	if strings.Contains(log, tok[:40]) || strings.Contains(log, "access_token") || !strings.Contains(log, `"user":"alice"`) {
		t.Errorf("access log holds a token or no user:\n%s", log)
	}
}

// TestJWKSRotation: the issuer adds a key; a token under it is accepted at
// once (refresh on unknown kid), the old key still works during the
// overlap, and once the issuer drops the old key the background refresh
// stops accepting it, all without a restart.
func TestJWKSRotation(t *testing.T) {
	f := newEdgeFixture(t)
	f.issuer.add(t, "k1", "ES256")
	f.start(t, "")
	c := f.client()
	old := f.issuer.token(t, "k1", claims("alice", "read"))
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/v1/a", old)); code != 200 {
		t.Fatalf("k1 token: %d", code)
	}
	f.issuer.add(t, "k2", "RS256")
	fresh := f.issuer.token(t, "k2", claims("alice", "read"))
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/v1/a", fresh)); code != 200 {
		t.Fatalf("token under the rotated-in key k2: %d, want 200 without restart", code)
	}
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/v1/a", old)); code != 200 {
		t.Fatalf("k1 token during the overlap: %d", code)
	}
	f.issuer.remove("k1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := f.do(t, c, f.req(t, "GET", "/v1/a", old))
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k1 token still %d 5s after k1 left the key set (refresh 300ms)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/v1/a", fresh)); code != 200 {
		t.Fatalf("k2 token after k1 left: %d", code)
	}
}

// TestRevokedDeviceRefusedWithinOneRefresh: a device certificate that the
// CA revokes is refused on its open keep-alive connection within one CRL
// refresh (300ms here) plus a fetch.
func TestRevokedDeviceRefusedWithinOneRefresh(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	dev := deviceCert(t, f.deviceCA)
	c := f.client(dev)
	code, s, _ := f.do(t, c, f.req(t, "GET", "/device/x", ""))
	if code != 200 || s.Device != pin.FromCertificate(dev.Leaf).String() || s.Verify != "" {
		t.Fatalf("device: %d, upstream saw %+v", code, s)
	}
	f.revoke(t, dev.Leaf.SerialNumber)
	revoked := time.Now()
	for {
		code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", ""))
		if code == http.StatusForbidden {
			break
		}
		if time.Since(revoked) > 300*time.Millisecond+time.Second {
			t.Fatalf("revoked device still %d %s after the CRL changed (refresh 300ms)", code, time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revoked device refused %s after the CRL changed", time.Since(revoked).Round(time.Millisecond))
	other := deviceCert(t, f.deviceCA)
	if code, _, _ := f.do(t, f.client(other), f.req(t, "GET", "/device/x", "")); code != 200 {
		t.Errorf("another device after the revocation: %d", code)
	}
	if !strings.Contains(f.log.String(), "device_refused") {
		t.Errorf("the refusal is not in the access log")
	}
}

// TestDeviceCertificates: mtls routes refuse a request without a device
// certificate; a certificate from another CA fails the handshake; other
// routes take requests without one.
func TestDeviceCertificates(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	if code, _, _ := f.do(t, f.client(), f.req(t, "GET", "/device/x", "")); code != http.StatusForbidden {
		t.Errorf("no device certificate: %d, want 403", code)
	}
	if code, _, _ := f.do(t, f.client(), f.req(t, "GET", "/public/x", "")); code != 200 {
		t.Errorf("public route without a certificate: %d", code)
	}
	stranger := deviceCert(t, pki.Must(pki.NewRoot(pki.Template{CommonName: "device CA"})))
	if _, err := f.client(stranger).Do(f.req(t, "GET", "/device/x", "")); err == nil {
		t.Errorf("a certificate from another CA (same name) was accepted")
	}
	// Both on one route: the upstream sees the device and the user.
	f.issuer.add(t, "k", "EdDSA")
	dev := deviceCert(t, f.deviceCA)
	code, s, _ := f.do(t, f.client(dev), f.req(t, "POST", "/both", f.issuer.token(t, "k", claims("bob"))))
	if code != 200 || s.User != "bob" || s.Device == "" || s.Verify != "" {
		t.Errorf("mtls and token: %d, upstream saw %+v", code, s)
	}
}

// TestIdentityHeadersStripped: whatever identity headers a client sends,
// in any spelling, the upstream sees only the edge's, and they verify.
func TestIdentityHeadersStripped(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	r := f.req(t, "GET", "/public/x", "")
	r.Header.Set("Pinset-Edge-Device", "forged")
	r.Header.Set("pinset-edge-user", "admin")
	r.Header["Pinset_Edge_User"] = []string{"admin"}
	r.Header["PINSET-EDGE-AUTH"] = []string{"v1 t=1 mac=x"}
	code, s, _ := f.do(t, f.client(), r)
	if code != 200 || s.Device != "" || s.User != "" || s.Verify != "" {
		t.Fatalf("%d, upstream saw %+v", code, s)
	}
	for k := range s.Header {
		if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "pinset-edge-") && k != HeaderAuth {
			t.Errorf("upstream got %s: %q", k, s.Header[k])
		}
	}
}

// TestVerifyUpstream: the MAC binds the device, user, method, URI and
// time.
func TestVerifyUpstream(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mk := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://up/v1/a?b=c", nil)
		signIdentity(r.Header, testIdentityKey, now, "dev", "alice", "GET", "/v1/a?b=c")
		return r
	}
	if id, err := VerifyUpstream(mk(), testIdentityKey, now.Add(30*time.Second), time.Minute); err != nil || id.User != "alice" || id.Device != "dev" {
		t.Fatalf("%+v %v", id, err)
	}
	for _, tc := range []struct {
		name   string
		change func(*http.Request)
		at     time.Time
		want   error
	}{
		{"user changed", func(r *http.Request) { r.Header.Set(HeaderUser, "bob") }, now, ErrIdentityMAC},
		{"device dropped", func(r *http.Request) { r.Header.Del(HeaderDevice) }, now, ErrIdentityMAC},
		{"other path", func(r *http.Request) { r.URL.Path = "/v1/admin" }, now, ErrIdentityMAC},
		{"other method", func(r *http.Request) { r.Method = "DELETE" }, now, ErrIdentityMAC},
		{"old", func(*http.Request) {}, now.Add(2 * time.Minute), ErrIdentityAge},
		{"future", func(*http.Request) {}, now.Add(-2 * time.Minute), ErrIdentityAge},
		{"missing", func(r *http.Request) { r.Header.Del(HeaderAuth) }, now, ErrIdentityMissing},
		{"two users", func(r *http.Request) { r.Header.Add(HeaderUser, "bob") }, now, ErrIdentityFormat},
		{"bad time", func(r *http.Request) {
			r.Header.Set(HeaderAuth, strings.Replace(r.Header.Get(HeaderAuth), "t=", "t=+", 1))
		}, now, ErrIdentityFormat},
	} {
		r := mk()
		tc.change(r)
		if _, err := VerifyUpstream(r, testIdentityKey, tc.at, time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := VerifyUpstream(mk(), []byte(strings.Repeat("x", 48)), now, time.Minute); !errors.Is(err, ErrIdentityMAC) {
		t.Errorf("other key: %v", err)
	}
}

// TestRoutes: longest prefix on path-segment boundaries; paths that are
// not clean or encode a separator are refused before any route.
func TestRoutes(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	c := f.client()
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/public/a", 200},
		{"/publicx", 404},
		{"/both", 403},   // mtls route
		{"/both/x", 403}, // under it
		{"/bothx", 404},  // not under it
		{"/", 404},       // no route
		{"/public/../v1/a", 400},
		{"/public/./a", 400},
		{"/public//a", 400},
		{"/public/%2e%2e/v1/a", 400},
		{"/public%2F..%2Fv1/a", 400},
		{"/public/a%5C..", 400},
	} {
		r := f.req(t, "GET", "/", "")
		r.URL.Opaque = tc.path // sent as written
		code, _, _ := f.do(t, c, r)
		if code != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, code, tc.want)
		}
	}
}

// TestBodyLimit: bodies over max_body_bytes get 413, declared or not.
func TestBodyLimit(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "limits:\n  max_body_bytes: 1000\n")
	c := f.client()
	r, _ := http.NewRequest("POST", "https://"+f.addr+"/public/x", strings.NewReader(strings.Repeat("a", 1001)))
	if code, _, _ := f.do(t, c, r); code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared 1001 bytes: %d, want 413", code)
	}
	r, _ = http.NewRequest("POST", "https://"+f.addr+"/public/x", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("a", 5000))})
	code, _, _ := f.do(t, c, r)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 5000 bytes: %d, want 413", code)
	}
	r, _ = http.NewRequest("POST", "https://"+f.addr+"/public/x", strings.NewReader(strings.Repeat("a", 1000)))
	if code, s, _ := f.do(t, c, r); code != 200 || s.BodyLen != 1000 {
		t.Errorf("1000 bytes: %d %d", code, s.BodyLen)
	}
}

// TestRateLimitPerAddress: the fourth request in a minute from one
// address gets 429 with Retry-After and RateLimit headers.
func TestRateLimitPerAddress(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "rate_limits:\n  address:\n    requests: 3\n    per: 1m\n")
	c := f.client()
	for i := 0; i < 3; i++ {
		if code, _, _ := f.do(t, c, f.req(t, "GET", "/public/x", "")); code != 200 {
			t.Fatalf("request %d: %d", i+1, code)
		}
	}
	code, _, resp := f.do(t, c, f.req(t, "GET", "/public/x", ""))
	if code != http.StatusTooManyRequests {
		t.Fatalf("fourth request: %d, want 429", code)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if p, l := resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"); p != `"addr";q=3;w=60` || !strings.HasPrefix(l, `"addr";r=0;t=`) {
		t.Errorf("RateLimit-Policy %q, RateLimit %q", p, l)
	}
}

// TestConfigRefused: unknown keys are refused by name; bad settings say
// which.
func TestConfigRefused(t *testing.T) {
	f := newEdgeFixture(t)
	for _, tc := range []struct{ extra, want string }{
		{"unknown_key: 1\n", `unknown key "unknown_key"`},
		{"rate_limits:\n  store: memcache\n", "rate_limits.store"},
		{"rate_limits:\n  user:\n    requests: 0\n    per: 1m\n", "rate_limits.user"},
		{"rate_limits:\n  address:\n    requests: 1\n    per: 1m\n    window: 2\n", `unknown key "window"`},
		{"routes:\n  - name: a\n    path: /a/../b\n    upstreams: [http://127.0.0.1:1]\n", "clean absolute path"},
		{"routes:\n  - name: a\n    path: /a\n    upstreams: [http://u:p@127.0.0.1:1]\n", "without user"},
	} {
		name := f.dir + "/bad.yaml"
		writeFile(t, name, []byte(f.config(tc.extra)), 0o644)
		file, err := Load(name)
		if err == nil {
			_, err = file.Build(t.Context(), Options{Log: f.log})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.extra, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p@") {
			t.Errorf("error shows the upstream's password: %v", err)
		}
	}
	if err := os.Chmod(f.dir+"/identity.key", 0o640); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.dir+"/bad.yaml", []byte(f.config("")), 0o644)
	file, _ := Load(f.dir + "/bad.yaml")
	if _, err := file.Build(t.Context(), Options{Log: f.log}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("identity key readable by others: %v", err)
	}
}

// TestJWKSFetchFailureReported: when the issuer's key set cannot be
// fetched, the edge logs and counts it, and keeps the keys it holds.
func TestJWKSFetchFailureReported(t *testing.T) {
	f := newEdgeFixture(t)
	f.issuer.add(t, "k", "ES256")
	f.start(t, "")
	tok := f.issuer.token(t, "k", claims("alice", "read"))
	if code, _, _ := f.do(t, f.client(), f.req(t, "GET", "/v1/a", tok)); code != 200 {
		t.Fatalf("before: %d", code)
	}
	f.issuer.broken.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(f.srv.metrics.JWKSFailures) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed key set fetch counted 5s after the issuer broke (refresh 300ms); log:\n%s", f.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(f.log.String(), "key set fetch failed") {
		t.Errorf("the failure is not logged")
	}
	if code, _, _ := f.do(t, f.client(), f.req(t, "GET", "/v1/a", tok)); code != 200 {
		t.Errorf("the keys held were dropped: %d", code)
	}
}

// TestLimitsAndTimeouts: headers over max_header_bytes get 431; an
// upstream slower than upstream_timeout gets 504; HTTP/2 clients are
// served; metric labels stay bounded whatever paths clients send.
func TestLimitsAndTimeouts(t *testing.T) {
	f := newEdgeFixture(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	f.start(t, "limits:\n  max_header_bytes: 4096\n  upstream_timeout: 200ms\nroutes:\n  - name: public\n    path: /public/\n    upstreams: ["+f.upstream.URL+"]\n  - name: slow\n    path: /slow\n    upstreams: ["+slow.URL+"]\n")
	c := f.client()
	r := f.req(t, "GET", "/public/x", "")
	r.Header.Set("X-Big", strings.Repeat("a", 8192))
	if code, _, _ := f.do(t, c, r); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KiB header: %d, want 431", code)
	}
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/slow", "")); code != http.StatusGatewayTimeout {
		t.Errorf("slow upstream: %d, want 504", code)
	}
	h2 := f.client()
	h2.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	_, _, resp := f.do(t, h2, f.req(t, "GET", "/public/x", ""))
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("HTTP/2 client: %d over %s", resp.StatusCode, resp.Proto)
	}
	for i := 0; i < 50; i++ {
		f.do(t, c, f.req(t, "GET", "/random-"+strconv.Itoa(i), ""))
	}
	if n := testutil.CollectAndCount(f.reg, "pinset_edge_requests_total"); n > 10 {
		t.Errorf("%d series of pinset_edge_requests_total after 50 distinct paths", n)
	}
	if !strings.Contains(f.log.String(), `"decision":"upstream_error"`) {
		t.Errorf("the upstream timeout is not in the access log")
	}
}

// TestDeviceExpiresOnOpenConnection: a device certificate that expires
// while its keep-alive connection is open is refused on it.
func TestDeviceExpiresOnOpenConnection(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	dev := deviceCert(t, f.deviceCA)
	tmpl := *dev.Leaf
	tmpl.NotAfter = time.Now().Add(1500 * time.Millisecond)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, f.deviceCA.Cert, dev.Leaf.PublicKey, f.deviceCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: dev.PrivateKey})
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", "")); code != 200 {
		t.Fatalf("before expiry: %d", code)
	}
	time.Sleep(time.Until(tmpl.NotAfter) + 1100*time.Millisecond) // NotAfter has second precision
	code, _, resp := f.do(t, c, f.req(t, "GET", "/device/x", ""))
	if code != http.StatusForbidden {
		t.Fatalf("after expiry on the open connection: %d", code)
	}
	if resp.TLS.DidResume || !strings.Contains(f.log.String(), "device certificate expired") {
		t.Errorf("not refused for expiry on the same connection; log:\n%s", f.log.String())
	}
}
