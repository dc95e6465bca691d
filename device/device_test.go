package device

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net/url"
	"testing"
	"time"
)

func csr(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestIssue: the certificate names only the id, is for client
// authentication, lives its lifetime within the CA's, and verifies against
// the CA; requests with weak keys, bad signatures or bad ids are refused.
func TestIssue(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ca, err := NewCA("Example devices", 365*24*time.Hour, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse("https://evil.example")
	req := csr(t, p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "admin"}, DNSNames: []string{"api.example.com"}, URIs: []*url.URL{u}})
	c, err := ca.Issue(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req}), "dev-42", 7*24*time.Hour, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "dev-42" || len(c.DNSNames)+len(c.URIs) != 0 || c.IsCA {
		t.Errorf("issued %s with names %v %v, CA %v: want only the id", c.Subject, c.DNSNames, c.URIs, c.IsCA)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || !c.NotAfter.Equal(now.Add(7*24*time.Hour).UTC()) {
		t.Errorf("usage %v, not after %s", c.ExtKeyUsage, c.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("does not verify as a client certificate: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err == nil {
		t.Errorf("verifies as a server certificate")
	}
	// Never past the CA.
	short, _ := NewCA("short", 2*time.Hour, now, rand.Reader)
	if c, err := short.Issue(req, "d", 30*24*time.Hour, now, rand.Reader); err != nil || c.NotAfter.After(short.Cert.NotAfter) {
		t.Errorf("outlives its CA: %v %v", c.NotAfter, err)
	}

	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tampered := csr(t, p256, nil)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name     string
		csr      []byte
		id       string
		lifetime time.Duration
		want     error
	}{
		{"RSA 1024", csr(t, rsa1024, nil), "d", time.Hour, ErrCSR},
		{"P-224", csr(t, p224, nil), "d", time.Hour, ErrCSR},
		{"bad signature", tampered, "d", time.Hour, ErrCSR},
		{"a certificate", ca.Cert.Raw, "d", time.Hour, ErrCSR},
		{"id with a slash", csr(t, ed, nil), "a/b", time.Hour, ErrID},
		{"empty id", csr(t, ed, nil), "", time.Hour, ErrID},
		{"lifetime too long", csr(t, ed, nil), "d", 31 * 24 * time.Hour, ErrLifetime},
		{"lifetime too short", csr(t, ed, nil), "d", time.Minute, ErrLifetime},
	} {
		if _, err := ca.Issue(tc.csr, tc.id, tc.lifetime, now, rand.Reader); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ca.Issue(csr(t, ed, nil), "ed-device", time.Hour, now, rand.Reader); err != nil {
		t.Errorf("Ed25519: %v", err)
	}
}

// TestCAFilesAndCRL: the CA's files load back; a key from another CA is
// refused; the CRL is signed by the CA and lists the revoked serials.
func TestCAFilesAndCRL(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ca, _ := NewCA("Example devices", 24*time.Hour, now, rand.Reader)
	other, _ := NewCA("Other", 24*time.Hour, now, rand.Reader)
	kp, _ := ca.KeyPEM()
	okp, _ := other.KeyPEM()
	if _, err := LoadCA(ca.CertPEM(), kp); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(ca.CertPEM(), okp); err == nil {
		t.Errorf("another CA's key loaded")
	}
	rev, err := ParseRevoked([]byte("# revoked\n0A:0b\n\n1f 2026-01-02T03:04:05Z\n"), now)
	if err != nil || len(rev) != 2 || rev[0].Serial.Int64() != 0x0a0b || rev[1].Time.Year() != 2026 {
		t.Fatalf("%v %v", rev, err)
	}
	for _, bad := range []string{"xyz\n", "0\n", "1f yesterday\n", "1f 2026-01-02T03:04:05Z extra\n"} {
		if _, err := ParseRevoked([]byte(bad), now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	b, err := ca.CRL(rev, now, time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	rl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil || rl.CheckSignatureFrom(ca.Cert) != nil || len(rl.RevokedCertificateEntries) != 2 || rl.Number.Int64() != now.Unix() {
		t.Fatalf("%v %+v", err, rl)
	}
}
