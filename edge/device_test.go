package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/device"
	"pinset.dev/pinset/store"
)

// TestDeviceCAWithEdge: the device authority of pinset serve (package
// device, on a real SQLite store) enrolls a device from its CSR; its CA
// certificate and its CRL plug into the edge as they are, and a revocation
// there refuses the device at the edge within one CRL refresh.
func TestDeviceCAWithEdge(t *testing.T) {
	ctx := context.Background()
	f := newEdgeFixture(t)
	keyPEM, certPEM, err := device.NewCA("Example devices", time.Now().Add(-time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := device.ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "data", store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth := &device.Authority{CA: ca, Store: st, CRLCache: time.Nanosecond}
	writeFile(t, filepath.Join(f.dir, "device-ca.pem"), certPEM, 0o644)
	crl, err := auth.CRL(ctx, "shop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.crl.Store(&crl.DER)
	f.start(t, "")

	tok, err := auth.NewToken(ctx, "shop", "phone-1", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	iss, err := auth.Enroll(ctx, "shop", &device.EnrollRequest{Token: tok.Secret, CSR: csrPEM}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key})
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", "")); code != http.StatusOK {
		t.Fatalf("enrolled device: %d", code)
	}
	if _, err := auth.Revoke(ctx, "shop", "phone-1", "lost", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	crl, err = auth.CRL(ctx, "shop", time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f.crl.Store(&crl.DER)
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", ""))
		if code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked device still %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
