package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"pinset.dev/pinset/internal/pki"
)

// TestAdminListener runs the server with an admin listener over TLS with
// client certificates required, beside a public TLS listener, on
// loopback: the admin API, what Routes adds and the console answer on the
// admin listener only (404 on the public one, token or not), the public
// documents and reports on the public one only, health checks on both;
// the admin listener refuses a handshake without a certificate from the
// admin CA, and the public listener asks for none.
func TestAdminListener(t *testing.T) {
	serverCA := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(serverCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	adminLeaf := pki.Must(serverCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	adminCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "admin CA"}))
	otherCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "other CA"}))
	ln, aln := listenLoopback(t), listenLoopback(t)
	adminCert := adminLeaf.TLSCertificate()
	e := newEnv(t, func(c *Config) {
		c.AdminClientCAs = adminCA.Pool()
		c.AdminListener, c.AdminCert = aln, &adminCert
		c.Routes = func(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
			mux.Handle("GET /v1/admin/extra", admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "extra")
			})))
		}
		c.Console = func(s *Server) (http.Handler, error) {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console") }), nil
		}
	})
	if _, err := e.srv.PublishRoot(context.Background(), "shop", e.repo.Root()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.PublishManifest(context.Background(), "shop", e.repo.Manifest(), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if tc := e.srv.TLSConfig(leaf.TLSCertificate()); tc.ClientAuth != tls.NoClientCert || tc.ClientCAs != nil {
		t.Fatalf("the public listener asks for client certificates: %v", tc.ClientAuth)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, e.srv.TLSConfig(leaf.TLSCertificate())) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	pub, adm := "https://"+ln.Addr().String(), "https://"+aln.Addr().String()
	client := func(certs ...tls.Certificate) *http.Client { return tlsClient(serverCA, certs...) }
	get := func(c *http.Client, url string) (int, error) { return getStatus(c, url, e.token) }
	anon, operator, stranger := client(), client(clientCert(t, adminCA)), client(clientCert(t, otherCA))
	for _, c := range []struct {
		name string
		c    *http.Client
		url  string
		want int
	}{
		{"public documents", anon, pub + "/v1/apps/shop/pins.json", 200},
		{"public health", anon, pub + "/healthz", 200},
		{"admin API on the public listener", operator, pub + "/v1/admin/apps", 404},
		{"Routes' admin route on the public listener", operator, pub + "/v1/admin/extra", 404},
		{"console on the public listener", operator, pub + "/console/signin", 404},
		{"admin API", operator, adm + "/v1/admin/apps", 200},
		{"Routes' admin route", operator, adm + "/v1/admin/extra", 200},
		{"console", operator, adm + "/console/signin", 200},
		{"admin health", operator, adm + "/readyz", 200},
		{"documents on the admin listener", operator, adm + "/v1/apps/shop/pins.json", 404},
	} {
		if code, err := get(c.c, c.url); err != nil || code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, err, c.want)
		}
	}
	// No certificate, or one from another CA: the handshake fails (the
	// server requires one; Go clients send none the CA list does not name).
	for name, c := range map[string]*http.Client{"no certificate": anon, "another CA": stranger} {
		if code, err := get(c, adm+"/console/signin"); err == nil {
			t.Errorf("admin listener with %s: status %d, want a failed handshake", name, code)
		}
	}
}

// An admin listener that would take client certificates over plain HTTP,
// or an admin certificate with no admin listener, is refused.
func TestAdminListenerConfigRefused(t *testing.T) {
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	ln := listenLoopback(t)
	defer ln.Close()
	st := newEnv(t, nil).st
	if _, err := New(Config{Store: st, AdminListener: ln, AdminClientCAs: ca.Pool()}); !errors.Is(err, ErrAdminListenerNeedsTLS) {
		t.Errorf("client CAs on a plain admin listener: %v", err)
	}
	cert := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}})).TLSCertificate()
	if _, err := New(Config{Store: st, AdminCert: &cert}); err == nil {
		t.Error("an admin certificate without an admin listener accepted")
	}
}

// listenLoopback listens on a free port of 127.0.0.1.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
