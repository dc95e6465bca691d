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

	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool(), Certificates: certs}}}
	}
	get := func(c *http.Client, path string, token bool) (int, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token {
			req.Header.Set("Authorization", "Bearer "+e.token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
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
