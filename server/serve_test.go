package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
)

// clientCert issues a client-auth certificate under ca.
func clientCert(t *testing.T, ca *pki.CA) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "operator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsClient is an HTTPS client trusting ca, presenting certs.
func tlsClient(ca *pki.CA, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}}}
}

// getStatus GETs url (with a bearer token unless it is empty) and returns
// the status.
func getStatus(c *http.Client, url, token string) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestServeTLSAdminClientCertAndShutdown runs the real HTTP server over
// TLS on loopback with admin client certificates required, then shuts it
// down while a request is in flight.
func TestServeTLSAdminClientCertAndShutdown(t *testing.T) {
	serverCA := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(serverCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	adminCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "admin CA"}))
	otherCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "other CA"}))

	var taskStopped atomic.Bool
	release := make(chan struct{})
	e := newEnv(t, func(c *Config) {
		c.Now = nil // the TLS stack reads the wall clock anyway
		c.AdminClientCAs = adminCA.Pool()
		c.Tasks = []func(context.Context) error{func(ctx context.Context) error {
			<-ctx.Done()
			taskStopped.Store(true)
			return nil
		}}
		c.Routes = func(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
			mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
				<-release
				io.WriteString(w, "done")
			})
			mux.Handle("GET /v1/admin/extra", admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "extra")
			})))
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, e.srv.TLSConfig(leaf.TLSCertificate())) }()
	base := "https://" + ln.Addr().String()

	client := func(certs ...tls.Certificate) *http.Client { return tlsClient(serverCA, certs...) }
	get := func(c *http.Client, path string, token bool) (int, error) {
		if !token {
			return getStatus(c, base+path, "")
		}
		return getStatus(c, base+path, e.token)
	}
	anon, operator, stranger := client(), client(clientCert(t, adminCA)), client(clientCert(t, otherCA))
	for _, c := range []struct {
		name   string
		c      *http.Client
		path   string
		token  bool
		want   int
		tlsErr bool
	}{
		{"public without certificate", anon, "/healthz", false, 200, false},
		{"admin without certificate", anon, "/v1/admin/apps", true, 403, false},
		{"admin with certificate and token", operator, "/v1/admin/apps", true, 200, false},
		{"admin with certificate, no token", operator, "/v1/admin/apps", false, 401, false},
		{"extra admin route", operator, "/v1/admin/extra", true, 200, false},
		{"extra admin route without certificate", anon, "/v1/admin/extra", true, 403, false},
		{"certificate from another CA", stranger, "/v1/admin/apps", true, 0, true},
	} {
		code, err := get(c.c, c.path, c.token)
		if c.tlsErr {
			// Refused either way: a failed handshake, or (Go clients send
			// no certificate the server's CA list does not name) 403.
			if err == nil && code != 403 {
				t.Errorf("%s: status %d", c.name, code)
			}
			continue
		}
		if err != nil || code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, err, c.want)
		}
	}

	// Graceful shutdown: a request in flight completes.
	slow := make(chan int, 1)
	go func() {
		code, _ := get(anon, "/slow", false)
		slow <- code
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	if _, err := get(client(), "/healthz", false); err == nil {
		t.Error("new connections accepted during shutdown")
	}
	close(release)
	if code := <-slow; code != 200 {
		t.Errorf("in-flight request during shutdown: %d", code)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if !taskStopped.Load() {
		t.Error("background task not stopped")
	}
}

// TestSlowClient holds a connection open with half a request line: the
// server drops it after the header timeout, and serves others meanwhile.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Now = nil; c.ReadHeaderTimeout = 300 * time.Millisecond })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, nil) }()
	defer func() { cancel(); <-served }()

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /v1/apps/shop/pins.json HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("other client during the slow one: %v", err)
	}
	resp.Body.Close()
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := slow.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the slow connection open")
			}
			break // closed by the server (possibly after a 408)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow connection dropped after %v", d)
	}
}

func TestIsLoopback(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.3"), Port: 8080}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080}, true},
		{&net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 8080}, false}, // every interface
		{&net.TCPAddr{IP: net.ParseIP("::"), Port: 8080}, false},
		{&net.TCPAddr{Port: 8080}, false}, // ":8080"
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}, false},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 8080}, true},
		{&net.UnixAddr{Name: "/run/pinset.sock", Net: "unix"}, false},
	} {
		if got := IsLoopback(c.addr); got != c.want {
			t.Errorf("IsLoopback(%v) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// addrListener is a real loopback listener that reports another address,
// as a listener on every interface would, without opening one.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// serveLogs runs Serve on ln until it has logged that it serves, and
// returns the logs.
func serveLogs(t *testing.T, e *env, ln net.Listener) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, nil) }()
	for i := 0; !strings.Contains(e.logs.String(), `"msg":"serving"`); i++ {
		if i > 200 {
			t.Fatal("Serve did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	return e.logs.String()
}

// Plain HTTP on a non-loopback address is served with a warning at start
// (tokens and reports would cross the network in clear); on loopback,
// without one.
func TestServeWarnsPlainHTTPOffLoopback(t *testing.T) {
	const warning = "serving plain HTTP on a non-loopback address"
	e := newEnv(t, func(c *Config) { c.Now = nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if logs := serveLogs(t, e, ln); strings.Contains(logs, warning) || strings.Contains(logs, "/metrics") {
		t.Fatalf("warning on loopback:\n%s", logs)
	}
	e = newEnv(t, func(c *Config) { c.Now = nil })
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := serveLogs(t, e, addrListener{ln, &net.TCPAddr{IP: net.IPv4zero, Port: 8080}})
	if !strings.Contains(logs, `"level":"WARN","msg":"`+warning) || !strings.Contains(logs, `"addr":"0.0.0.0:8080"`) {
		t.Fatalf("no warning for 0.0.0.0 without TLS:\n%s", logs)
	}
	if !strings.Contains(logs, "serving /metrics to anyone on a non-loopback address") {
		t.Fatalf("no warning for open metrics:\n%s", logs)
	}
}

// /metrics can be restricted: with a token it answers only to the token;
// with a metrics listener it is served there (127.0.0.2 here) and not on
// the main listener, and the metrics listener serves nothing else.
func TestMetricsRestricted(t *testing.T) {
	const token = "metrics-secret"
	get := func(url, tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	e := newEnv(t, func(c *Config) { c.MetricsToken = token })
	if r := e.do("GET", "/metrics", nil); r.code != 401 || r.h.Get("WWW-Authenticate") == "" {
		t.Fatalf("metrics without the token: %d", r.code)
	}
	if r := e.do("GET", "/metrics", nil, "Authorization", "Bearer "+e.token); r.code != 401 {
		t.Fatalf("metrics with an admin token instead: %d", r.code)
	}
	if r := e.do("GET", "/metrics", nil, "Authorization", "Bearer "+token); r.code != 200 || !strings.Contains(string(r.body), `pinset_admin_auth_failures_total{reason="metrics"} 2`) {
		t.Fatalf("metrics with the token: %d %s", r.code, r.body)
	}

	mln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, func(c *Config) { c.Now = nil; c.MetricsListener = mln; c.MetricsToken = token })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, nil) }()
	main, metrics := "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	for i := 0; ; i++ {
		if resp, err := http.Get(main + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			t.Fatal("not serving")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := get(main+"/metrics", token); c != 404 {
		t.Errorf("main listener /metrics: %d, want 404", c)
	}
	if c := get(metrics+"/metrics", ""); c != 401 {
		t.Errorf("metrics listener without token: %d", c)
	}
	if c := get(metrics+"/metrics", token); c != 200 {
		t.Errorf("metrics listener with token: %d", c)
	}
	if c := get(metrics+"/healthz", token); c != 404 {
		t.Errorf("metrics listener serves /healthz: %d", c)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(metrics + "/metrics"); err == nil {
		t.Error("metrics listener still open after shutdown")
	}
}
