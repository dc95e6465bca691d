package edge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/device"
)

// TestDeviceCAWithEdge: a device CA from package device, a certificate it
// issues from a device's CSR, and its CRL plug into the edge as they are.
func TestDeviceCAWithEdge(t *testing.T) {
	f := newEdgeFixture(t)
	ca, err := device.NewCA("Example devices", 24*time.Hour, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "device-ca.pem"), ca.CertPEM(), 0o644)
	crl, _ := ca.CRL(nil, time.Now(), time.Hour, rand.Reader)
	f.crl.Store(&crl)
	f.start(t, "")

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	cert, err := ca.Issue(csr, "phone-1", time.Hour, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key})
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", "")); code != http.StatusOK {
		t.Fatalf("issued device: %d", code)
	}
	// A later CRL (a higher number: one second on) revokes it.
	crl, _ = ca.CRL([]device.Revoked{{Serial: cert.SerialNumber, Time: time.Now()}}, time.Now().Add(time.Second), time.Hour, rand.Reader)
	f.crl.Store(&crl)
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
