package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/device"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/store"
)

// newDeviceEnv is a server with a device authority and the app "shop".
func newDeviceEnv(t *testing.T, mod func(*Config)) (*env, *device.Authority) {
	t.Helper()
	var auth *device.Authority
	e := newEnv(t, func(c *Config) {
		keyPEM, certPEM, err := device.NewCA("", time.Now().Add(-24*time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := device.ParseCA(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		auth = &device.Authority{CA: ca, Store: c.Store}
		c.Devices = auth
		if mod != nil {
			mod(c)
		}
	})
	e.mustPublish("root", e.repo.Root())
	return e, auth
}

func deviceCSR(t *testing.T, k *ecdsa.PrivateKey) string {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func jsonBody(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) deviceToken(id string) string {
	e.t.Helper()
	r := e.admin("POST", "/v1/admin/apps/shop/devices/tokens", jsonBody(e.t.(*testing.T), map[string]string{"device_id": id}))
	var tok device.Token
	r.json(e.t, &tok)
	if r.code != http.StatusCreated || tok.Secret == "" || tok.DeviceID != id {
		e.t.Fatalf("token: %d %s", r.code, r.body)
	}
	return tok.Secret
}

func TestDeviceEnrollRenewRevoke(t *testing.T) {
	e, auth := newDeviceEnv(t, func(c *Config) { c.Now = nil })
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok := e.deviceToken("phone-1")
	enroll := func(token, csr string) resp {
		return e.do("POST", "/v1/apps/shop/devices/enroll", jsonBody(t, device.EnrollRequest{Token: token, CSR: csr}))
	}
	// A CSR with a bad signature is refused and does not spend the token.
	blk, _ := pem.Decode([]byte(deviceCSR(t, k)))
	blk.Bytes[len(blk.Bytes)-3] ^= 0x40
	if r := enroll(tok, string(pem.EncodeToMemory(blk))); r.code != 400 || r.apiErr(t).Code != "bad_csr" {
		t.Fatalf("bad CSR signature: %d %s", r.code, r.body)
	}
	r := enroll(tok, deviceCSR(t, k))
	var iss device.Issued
	r.json(t, &iss)
	if r.code != 201 || iss.URI != "pinset://shop/device/phone-1" {
		t.Fatalf("enroll: %d %s", r.code, r.body)
	}
	chain, err := device.ParseChainPEM(iss.Chain)
	if err != nil || len(chain) != 2 || !chain[1].Equal(auth.CA.Certificate()) {
		t.Fatalf("chain: %v", err)
	}
	if r := enroll(tok, deviceCSR(t, k)); r.code != 403 || r.apiErr(t).Code != "bad_token" {
		t.Fatalf("reused token: %d %s", r.code, r.body)
	}
	for _, body := range []string{`{"token":"x","csr":"y","extra":1}`, `{"token":"x"}`, `not json`} {
		if r := e.do("POST", "/v1/apps/shop/devices/enroll", []byte(body)); r.code != 400 || r.apiErr(t).Code != "malformed" {
			t.Errorf("%s: %d %s", body, r.code, r.body)
		}
	}
	if r := e.do("POST", "/v1/apps/shop/devices/enroll", []byte(`{"token":"x","csr":"`+strings.Repeat("a", 20<<10)+`"}`)); r.code != 413 {
		t.Errorf("large body: %d", r.code)
	}
	if r := e.do("POST", "/v1/apps/nope/devices/enroll", jsonBody(t, device.EnrollRequest{Token: tok, CSR: "x"})); r.code != 404 {
		t.Errorf("unknown app: %d", r.code)
	}

	// Renewal with the certificate in the request and a CSR of its key.
	renew := func(req device.RenewRequest) resp {
		return e.do("POST", "/v1/apps/shop/devices/renew", jsonBody(t, req))
	}
	if r := renew(device.RenewRequest{CSR: deviceCSR(t, k)}); r.code != 403 || r.apiErr(t).Code != "not_device_certificate" {
		t.Fatalf("renew without a certificate: %d %s", r.code, r.body)
	}
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if r := renew(device.RenewRequest{CSR: deviceCSR(t, k2), Certificate: iss.Chain}); r.code != 403 || r.apiErr(t).Code != "key_mismatch" {
		t.Fatalf("renew with another key: %d %s", r.code, r.body)
	}
	if r := renew(device.RenewRequest{CSR: deviceCSR(t, k), Certificate: iss.Chain}); r.code != 201 {
		t.Fatalf("renew: %d %s", r.code, r.body)
	}

	// Revocation: the CRL lists the certificates, renewal is refused.
	if r := e.do("POST", "/v1/admin/apps/shop/devices/phone-1/revoke", nil); r.code != 401 {
		t.Fatalf("revoke without a token: %d", r.code)
	}
	if r := e.admin("POST", "/v1/admin/apps/shop/devices/phone-1/revoke", []byte(`{"reason":"lost"}`)); r.code != 200 || !strings.Contains(string(r.body), `"revoked_certificates": 2`) {
		t.Fatalf("revoke: %d %s", r.code, r.body)
	}
	if r := e.admin("POST", "/v1/admin/apps/shop/devices/phone-1/revoke", nil); r.code != 404 {
		t.Fatalf("revoke twice: %d %s", r.code, r.body)
	}
	r = e.do("GET", "/v1/apps/shop/devices/crl", nil)
	if r.code != 200 || r.h.Get("Content-Type") != "application/pkix-crl" || !strings.HasPrefix(r.h.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("crl: %d %v", r.code, r.h)
	}
	crl, err := x509.ParseRevocationList(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(auth.CA.Certificate()); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range crl.RevokedCertificateEntries {
		found = found || rc.SerialNumber.Cmp(chain[0].SerialNumber) == 0
	}
	if !found || len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("CRL entries %+v", crl.RevokedCertificateEntries)
	}
	if r := renew(device.RenewRequest{CSR: deviceCSR(t, k), Certificate: iss.Chain}); r.code != 403 || r.apiErr(t).Code != "revoked" {
		t.Fatalf("renew after revocation: %d %s", r.code, r.body)
	}
	r = e.admin("GET", "/v1/admin/apps/shop/devices/phone-1/audit", nil)
	var audit struct{ Audit []store.DeviceAuditEntry }
	r.json(t, &audit)
	if len(audit.Audit) != 3 || audit.Audit[0].What != "enroll" || audit.Audit[1].What != "renew" || audit.Audit[2].What != "revoke" ||
		audit.Audit[2].Why != "lost" || !strings.HasPrefix(audit.Audit[2].Actor, "test-") {
		t.Fatalf("audit %s", r.body)
	}
	m := e.do("GET", "/metrics", nil)
	for _, want := range []string{`pinset_device_certificates_total{action="enroll",result="ok"} 1`, `pinset_device_certificates_total{action="enroll",result="bad_token"} 1`,
		`pinset_device_certificates_total{action="renew",result="ok"} 1`, `pinset_device_certificates_total{action="revoke",result="ok"} 1`,
		`pinset_device_certificates_total{action="renew",result="revoked"} 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(e.logs.String(), tok) || strings.Contains(e.logs.String(), "PRIVATE") {
		t.Error("the logs hold the enrollment token or a key")
	}
}

// TestDeviceRenewOverMutualTLS: serve over TLS requests client
// certificates; the device's certificate presented in the handshake renews
// with a new key.
func TestDeviceRenewOverMutualTLS(t *testing.T) {
	e, auth := newDeviceEnv(t, func(c *Config) { c.Now = nil })
	serverCA := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(serverCA.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, e.srv.TLSConfig(leaf.TLSCertificate())) }()
	defer func() { cancel(); <-served }()

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, err := auth.NewToken(ctx, "shop", "d1", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := auth.Enroll(ctx, "shop", &device.EnrollRequest{Token: tok.Secret, CSR: deviceCSR(t, k)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: k}
	post := func(certs []tls.Certificate, csr string) (int, string) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool(), Certificates: certs}}}
		res, err := hc.Post("https://"+ln.Addr().String()+"/v1/apps/shop/devices/renew", "application/json", strings.NewReader(string(jsonBody(t, device.RenewRequest{CSR: csr}))))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if code, body := post([]tls.Certificate{cert}, deviceCSR(t, k2)); code != 201 || !strings.Contains(body, "pinset://shop/device/d1") {
		t.Fatalf("renew over mutual TLS: %d %s", code, body)
	}
	// A client certificate of another CA is requested but refused by the
	// renewal.
	other := pki.Must(pki.NewRoot(pki.Template{CommonName: "other"}))
	if code, body := post([]tls.Certificate{clientCert(t, other)}, deviceCSR(t, k2)); code != 403 || !strings.Contains(body, "not_device_certificate") {
		t.Fatalf("another CA's certificate: %d %s", code, body)
	}
}

func TestDeviceTokenRefusals(t *testing.T) {
	e, _ := newDeviceEnv(t, nil)
	for _, c := range []struct {
		path, body string
		code       int
		reason     string
	}{
		{"/v1/admin/apps/shop/devices/tokens", `{"device_id":"../x"}`, 400, "malformed"},
		{"/v1/admin/apps/shop/devices/tokens", `{"device":"x"}`, 400, "malformed"},
		{"/v1/admin/apps/nope/devices/tokens", ``, 404, "not_found"},
		{"/v1/admin/apps/shop/devices/ghost/revoke", ``, 404, "not_found"},
	} {
		r := e.admin("POST", c.path, []byte(c.body))
		if r.code != c.code || r.apiErr(t).Code != c.reason {
			t.Errorf("%s %s: %d %s", c.path, c.body, r.code, r.body)
		}
	}
	// Enrollment requests are limited per client address.
	var last resp
	for range deviceBurst + 1 {
		last = e.do("POST", "/v1/apps/shop/devices/enroll", []byte(`{}`), "RemoteAddr", "192.0.2.7:1234")
	}
	if last.code != 429 || last.h.Get("Retry-After") == "" {
		t.Fatalf("after the burst: %d %v", last.code, last.h)
	}
}

// Without a devices section the routes do not exist.
func TestNoDeviceRoutesWithoutDevices(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	if r := e.do("GET", "/v1/apps/shop/devices/crl", nil); r.code != 404 {
		t.Fatalf("crl without devices: %d", r.code)
	}
}
