package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/device"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// tokenFor is an app's TokenSource: a token for one host only.
type tokenFor struct{ host, token string }

func (s tokenFor) Token(ctx context.Context, req *http.Request) (string, error) {
	if req.URL.Hostname() != s.host {
		return "", nil
	}
	return s.token, nil
}

// deviceWorld is the pin service with a device CA (real server, real
// SQLite) and a backend on loopback TLS that requires client certificates
// of the device CA, all on one injected clock.
type deviceWorld struct {
	clock   *ct.Clock
	auth    *device.Authority
	service *httptest.Server
	backend *httptest.Server
	repo    *ct.Repo
	ca      *pki.CA
	m1      []byte
}

func newDeviceWorld(t *testing.T) *deviceWorld {
	w := &deviceWorld{clock: ct.NewClock(ct.T0)}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyPEM, certPEM, err := device.NewCA("", w.clock.Now().Add(-time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	dca, err := device.ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	w.auth = &device.Authority{CA: dca}
	srv, err := server.New(server.Config{Store: st, Now: w.clock.Now, RefreshInterval: time.Millisecond, Devices: w.auth})
	if err != nil {
		t.Fatal(err)
	}
	w.service = httptest.NewServer(srv)
	t.Cleanup(w.service.Close)

	w.repo = ct.NewRepo(t, "com.example.dev", "dev")
	w.ca = pki.Must(pki.NewRoot(pki.Template{Now: w.clock.Now}))
	live := pki.Must(w.ca.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}}))
	backup := pki.Must(w.ca.NewLeaf(pki.Template{Now: w.clock.Now, Hosts: []string{"127.0.0.1"}}))
	w.m1 = w.repo.Sign(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", live.Pin(), backup.Pin()))
	if err := st.PublishRoot(context.Background(), store.Document{App: "com.example.dev", Version: 1, Body: w.repo.RootBytes(1), Expires: ct.T0.Add(365 * 24 * time.Hour), CreatedAt: ct.T0}, 0); err != nil {
		t.Fatal(err)
	}

	// The backend: only device certificates of the device CA get in; it
	// answers with the device's identity, serial and Authorization.
	w.backend = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		leaf := r.TLS.PeerCertificates[0]
		fmt.Fprintf(rw, "%s %s %s", leaf.URIs[0], leaf.SerialNumber.Text(16), r.Header.Get("Authorization"))
	}))
	w.backend.TLS = &tls.Config{Certificates: []tls.Certificate{live.TLSCertificate()}, ClientCAs: dca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, Time: w.clock.Now}
	w.backend.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	w.backend.StartTLS()
	t.Cleanup(w.backend.Close)
	return w
}

func (w *deviceWorld) client(t *testing.T, st client.Store, onEvent func(client.Event), log io.Writer) *client.Client {
	c, err := client.New(client.Config{
		BundledRoot: w.repo.RootBytes(1), BundledManifest: w.m1, ServiceURL: w.service.URL,
		TLS: &tls.Config{RootCAs: w.ca.Pool()}, Now: w.clock.Now, Store: st, OnEvent: onEvent,
		Logger:      slog.New(slog.NewTextHandler(log, nil)),
		Device:      &client.DeviceConfig{},
		TokenSource: tokenFor{host: "127.0.0.1", token: "access-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func get(hc *http.Client, u string) (string, error) {
	res, err := hc.Get(u)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// TestDeviceIdentity: the SDK enrolls with a token, presents its
// certificate to a backend requiring the device CA (pins still checked),
// sends the access token, renews at two thirds of the lifetime on the
// injected clock and keeps working past the first certificate's expiry;
// after a restart it uses the stored certificate; once revoked it renews
// no more.
func TestDeviceIdentity(t *testing.T) {
	w := newDeviceWorld(t)
	dir := t.TempDir()
	var logs bytes.Buffer
	var mu sync.Mutex
	var events []client.Event
	onEvent := func(e client.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	c := w.client(t, client.NewDirStore(dir), onEvent, &logs)
	hc := c.HTTPClient()
	if _, err := get(hc, w.backend.URL); err == nil {
		t.Fatal("the backend let a client without a device certificate in")
	}
	tok, err := w.auth.NewToken(context.Background(), "com.example.dev", "phone-1", "test", w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnrollDevice(context.Background(), tok.Secret); err != nil {
		t.Fatal(err)
	}
	first := c.DeviceCertificate()
	if fi, err := os.Stat(filepath.Join(dir, "pinset-device.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device file: %v %v", fi, err)
	}
	body, err := get(hc, w.backend.URL)
	if want := "pinset://com.example.dev/device/phone-1 " + first.SerialNumber.Text(16) + " Bearer access-1"; err != nil || body != want {
		t.Fatalf("backend saw %q %v, want %q", body, err, want)
	}
	// A second enrollment with the same token is refused.
	if err := w.client(t, &client.MemStore{}, nil, io.Discard).EnrollDevice(context.Background(), tok.Secret); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("reused token: %v", err)
	}

	// Two thirds of 7 days later, the next handshake starts a renewal.
	w.clock.Add(5 * 24 * time.Hour)
	hc.CloseIdleConnections()
	if _, err := get(hc, w.backend.URL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.DeviceCertificate().SerialNumber.Cmp(first.SerialNumber) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal; events %v", events)
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := c.DeviceCertificate()
	if !second.NotAfter.Equal(w.clock.Now().Add(device.DefaultLifetime)) {
		t.Fatalf("renewed until %v", second.NotAfter)
	}
	// Past the first certificate's expiry the renewed one works.
	w.clock.Add(3 * 24 * time.Hour)
	if body, err := get(hc, w.backend.URL); err != nil || !strings.Contains(body, second.SerialNumber.Text(16)) {
		t.Fatalf("after renewal: %q %v", body, err)
	}
	// A restart uses the stored, renewed certificate.
	c2 := w.client(t, client.NewDirStore(dir), nil, &logs)
	if body, err := get(c2.HTTPClient(), w.backend.URL); err != nil || !strings.Contains(body, second.SerialNumber.Text(16)) {
		t.Fatalf("after restart: %q %v", body, err)
	}

	// Revoked: in the CRL, and the renewal is refused.
	if _, err := w.auth.Revoke(context.Background(), "com.example.dev", "phone-1", "lost", "test", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	crl, err := w.auth.CRL(context.Background(), "com.example.dev", w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(crl.DER)
	// The first certificate has expired: only the renewed one is listed.
	if err != nil || rl.CheckSignatureFrom(w.auth.CA.Certificate()) != nil || len(rl.RevokedCertificateEntries) != 1 ||
		rl.RevokedCertificateEntries[0].SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("CRL %v %+v", err, rl.RevokedCertificateEntries)
	}
	if err := c.RenewDevice(context.Background()); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("renewal after revocation: %v", err)
	}
	mu.Lock()
	var kinds []string
	for _, e := range events {
		if e.Kind == client.EventDevice {
			kinds = append(kinds, e.Reason)
		}
	}
	mu.Unlock()
	if len(kinds) != 3 || !strings.Contains(kinds[0], "enrolled") || !strings.Contains(kinds[1], "renewed") || !strings.Contains(kinds[2], "renew failed") {
		t.Fatalf("device events %q", kinds)
	}
	if strings.Contains(logs.String(), tok.Secret) || strings.Contains(logs.String(), "PRIVATE") || strings.Contains(logs.String(), "access-1") {
		t.Fatal("the client logged the enrollment token, the key or the access token")
	}
}

// TestTokenSourceNeverOverPlainHTTP: a token the app returns for an http
// URL is an error, not a request.
func TestTokenSourceNeverOverPlainHTTP(t *testing.T) {
	w := newDeviceWorld(t)
	seen := make(chan string, 1)
	plain := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { seen <- r.Header.Get("Authorization") }))
	defer plain.Close()
	c := w.client(t, &client.MemStore{}, nil, io.Discard)
	_, err := get(c.HTTPClient(), plain.URL)
	if err == nil || !strings.Contains(err.Error(), "refusing to send it over http") {
		t.Fatalf("token over http: %v", err)
	}
	select {
	case a := <-seen:
		t.Fatalf("the request went out with %q", a)
	default:
	}
	if !errors.Is(c.RenewDevice(context.Background()), client.ErrNoDevice) {
		t.Fatal("renewal without a certificate")
	}
	// The token wrapper keeps the transport's CloseIdleConnections (an app
	// dropping its connections must reach the pinned pool).
	if _, ok := c.Transport().(interface{ CloseIdleConnections() }); !ok {
		t.Fatal("the transport with a TokenSource has no CloseIdleConnections")
	}
}

// TestEnrollNeverOverPlainHTTPOffLoopback: the enrollment token does not
// cross the network in clear.
func TestEnrollNeverOverPlainHTTPOffLoopback(t *testing.T) {
	w := newDeviceWorld(t)
	c, err := client.New(client.Config{BundledRoot: w.repo.RootBytes(1), BundledManifest: w.m1, ServiceURL: "http://pins.example.com",
		Now: w.clock.Now, Device: &client.DeviceConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.EnrollDevice(context.Background(), "pinset_enroll_x"); err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Fatalf("enroll over http: %v", err)
	}
}

func TestDeviceConfigChecks(t *testing.T) {
	w := newDeviceWorld(t)
	cfg := client.Config{BundledRoot: w.repo.RootBytes(1), BundledManifest: w.m1, ServiceURL: w.service.URL, Device: &client.DeviceConfig{},
		TLS: &tls.Config{Certificates: []tls.Certificate{{}}}}
	if _, err := client.New(cfg); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("device and TLS certificates: %v", err)
	}
	cfg.TLS, cfg.ServiceURL = nil, ""
	if _, err := client.New(cfg); err == nil || !strings.Contains(err.Error(), "needs a ServiceURL") {
		t.Fatalf("device without a service: %v", err)
	}
	// A damaged stored device file is ignored, with an event.
	st := &client.MemStore{}
	st.Save("pinset-device.json", []byte(`{"key":"AAAA","chain":""}`))
	var got []string
	cfg.ServiceURL = w.service.URL
	cfg.Store = st
	cfg.OnEvent = func(e client.Event) {
		if e.Kind == client.EventDevice {
			got = append(got, e.Reason)
		}
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.DeviceCertificate() != nil || len(got) != 1 || !strings.Contains(got[0], "ignored") {
		t.Fatalf("damaged device file: %v %q", c.DeviceCertificate(), got)
	}
}
