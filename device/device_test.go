package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/store"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newAuthority(t *testing.T) *Authority {
	t.Helper()
	keyPEM, certPEM, err := NewCA("", t0.Add(-time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "data", store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Authority{CA: ca, Store: st}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func enroll(t *testing.T, a *Authority, app, id string, k *ecdsa.PrivateKey) *Issued {
	t.Helper()
	tok, err := a.NewToken(context.Background(), app, id, "ci", t0)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := a.Enroll(context.Background(), app, &EnrollRequest{Token: tok.Secret, CSR: csrPEM(t, k)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestEnrollTokenOnce(t *testing.T) {
	a := newAuthority(t)
	ctx := context.Background()
	tok, err := a.NewToken(ctx, "shop", "phone-1", "ci", t0)
	if err != nil || !strings.HasPrefix(tok.Secret, TokenPrefix) || !tok.ExpiresAt.Equal(t0.Add(DefaultTokenLifetime)) {
		t.Fatalf("token %+v %v", tok, err)
	}
	k := newKey(t)
	iss, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok.Secret, CSR: csrPEM(t, k)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Cert
	if iss.URI != "pinset://shop/device/phone-1" || c.Subject.CommonName != "phone-1" || len(c.ExtKeyUsage) != 1 ||
		c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || c.IsCA || !c.NotAfter.Equal(t0.Add(DefaultLifetime)) ||
		!k.PublicKey.Equal(c.PublicKey) || len(c.DNSNames) != 0 {
		t.Fatalf("issued %+v", iss)
	}
	if id, err := IdentityOf(c); err != nil || id != (Identity{"shop", "phone-1"}) {
		t.Fatalf("identity %v %v", id, err)
	}
	if _, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok.Secret, CSR: csrPEM(t, newKey(t))}, t0); !errors.Is(err, ErrBadToken) {
		t.Fatalf("reused token: %v", err)
	}
	tok2, _ := a.NewToken(ctx, "shop", "", "ci", t0)
	if _, err := a.Enroll(ctx, "other", &EnrollRequest{Token: tok2.Secret, CSR: csrPEM(t, k)}, t0); !errors.Is(err, ErrBadToken) {
		t.Fatalf("another app's token: %v", err)
	}
	if _, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok2.Secret, CSR: csrPEM(t, k)}, t0.Add(DefaultTokenLifetime)); !errors.Is(err, ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	audit, err := a.Audit(ctx, "shop", "phone-1")
	if err != nil || len(audit) != 1 || audit[0].What != "enroll" || audit[0].Serial != iss.Serial {
		t.Fatalf("audit %+v %v", audit, err)
	}
}

func TestEnrollRefusesBadCSRSignature(t *testing.T) {
	a := newAuthority(t)
	ctx := context.Background()
	tok, _ := a.NewToken(ctx, "shop", "d", "ci", t0)
	good := csrPEM(t, newKey(t))
	blk, _ := pem.Decode([]byte(good))
	blk.Bytes[len(blk.Bytes)-3] ^= 0x40 // inside the signature
	bad := string(pem.EncodeToMemory(blk))
	if _, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok.Secret, CSR: bad}, t0); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("tampered CSR: %v", err)
	}
	// A CSR whose public key was swapped: signed by another key.
	other, _ := x509.ParseCertificateRequest(mustDER(t, csrPEM(t, newKey(t))))
	swapped := mustDER(t, good)
	swapped = []byte(strings.Replace(string(swapped), string(mustSPKI(t, good)), string(other.RawSubjectPublicKeyInfo), 1))
	if _, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok.Secret, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: swapped}))}, t0); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("CSR with another key: %v", err)
	}
	// The refused CSRs did not spend the token.
	if _, err := a.Enroll(ctx, "shop", &EnrollRequest{Token: tok.Secret, CSR: good}, t0); err != nil {
		t.Fatalf("token after refused CSRs: %v", err)
	}
	small, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, small)
	if _, err := ParseCSR(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("P-224 key: %v", err)
	}
}

func mustDER(t *testing.T, p string) []byte {
	blk, _ := pem.Decode([]byte(p))
	return blk.Bytes
}

func mustSPKI(t *testing.T, p string) []byte {
	c, err := x509.ParseCertificateRequest(mustDER(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return c.RawSubjectPublicKeyInfo
}

func TestRenew(t *testing.T) {
	a := newAuthority(t)
	ctx := context.Background()
	k := newKey(t)
	iss := enroll(t, a, "shop", "d1", k)
	chain := []*x509.Certificate{iss.Cert}
	later := t0.Add(5 * 24 * time.Hour)
	// Without mutual TLS, the CSR must be signed by the current key.
	if _, err := a.Renew(ctx, "shop", chain, false, csrPEM(t, newKey(t)), later); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("renewal with another key, no TLS: %v", err)
	}
	r, err := a.Renew(ctx, "shop", chain, false, csrPEM(t, k), later)
	if err != nil || r.Identity != iss.Identity || !r.NotAfter.Equal(later.Add(DefaultLifetime)) || r.Serial == iss.Serial {
		t.Fatalf("renewal %+v %v", r, err)
	}
	// Over mutual TLS the handshake proved the key: a new key is fine.
	if _, err := a.Renew(ctx, "shop", chain, true, csrPEM(t, newKey(t)), later); err != nil {
		t.Fatalf("renewal over TLS with a new key: %v", err)
	}
	if _, err := a.Renew(ctx, "shop", chain, false, csrPEM(t, k), t0.Add(DefaultLifetime+time.Second)); !errors.Is(err, ErrNotDeviceCert) {
		t.Fatalf("expired certificate: %v", err)
	}
	if _, err := a.Renew(ctx, "other", chain, false, csrPEM(t, k), later); !errors.Is(err, ErrNotDeviceCert) {
		t.Fatalf("another app: %v", err)
	}
	// A certificate of another CA with the same identity.
	b := newAuthority(t)
	foreign := enroll(t, b, "shop", "d1", k)
	if _, err := a.Renew(ctx, "shop", []*x509.Certificate{foreign.Cert}, false, csrPEM(t, k), later); !errors.Is(err, ErrNotDeviceCert) {
		t.Fatalf("another CA's certificate: %v", err)
	}
	audit, _ := a.Audit(ctx, "shop", "d1")
	if len(audit) != 3 || audit[1].What != "renew" || audit[2].What != "renew" {
		t.Fatalf("audit %+v", audit)
	}
}

func TestRevokedInCRLAndRenewalRefused(t *testing.T) {
	a := newAuthority(t)
	ctx := context.Background()
	k := newKey(t)
	iss := enroll(t, a, "shop", "d1", k)
	keep := enroll(t, a, "shop", "d2", newKey(t))
	first, err := a.CRL(ctx, "shop", t0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Revoke(ctx, "shop", "d1", "lost", "ci", t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("revoke %d %v", n, err)
	}
	if _, err := a.Revoke(ctx, "shop", "d1", "again", "ci", t0.Add(time.Minute)); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("revoke twice: %v", err)
	}
	c, err := a.CRL(ctx, "shop", t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(a.CA.Certificate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if crl.Number.Int64() <= first.Number || !crl.NextUpdate.Equal(t0.Add(2*time.Minute+DefaultCRLValidity)) {
		t.Fatalf("CRL number %v (first %d), next update %v", crl.Number, first.Number, crl.NextUpdate)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(iss.Cert.SerialNumber) != 0 {
		t.Fatalf("CRL entries %+v", crl.RevokedCertificateEntries)
	}
	if _, err := a.Verify(ctx, "shop", []*x509.Certificate{iss.Cert}, t0.Add(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("verify a revoked device's certificate: %v", err)
	}
	if _, err := a.Renew(ctx, "shop", []*x509.Certificate{iss.Cert}, false, csrPEM(t, k), t0.Add(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("renewal of a revoked device: %v", err)
	}
	if _, err := a.Renew(ctx, "shop", []*x509.Certificate{keep.Cert}, true, csrPEM(t, newKey(t)), t0.Add(time.Hour)); err != nil {
		t.Fatalf("another device's renewal: %v", err)
	}
	if _, err := a.NewToken(ctx, "shop", "d1", "ci", t0); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token for a revoked device: %v", err)
	}
	// Served from the cache within CRLCache; a new one (number up) after.
	if again, _ := a.CRL(ctx, "shop", t0.Add(2*time.Minute+time.Second)); again != c {
		t.Fatal("CRL not cached")
	}
	if next, _ := a.CRL(ctx, "shop", t0.Add(2*time.Minute+DefaultCRLCache)); next.Number <= c.Number {
		t.Fatalf("next CRL number %d", next.Number)
	}
}

func TestParseCARefusesWrongKey(t *testing.T) {
	k1, c1, _ := NewCA("a", t0, nil)
	k2, _, _ := NewCA("b", t0, nil)
	if _, err := ParseCA(c1, k2); err == nil {
		t.Fatal("CA with another key accepted")
	}
	if _, err := ParseCA(c1, k1); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityOf(t *testing.T) {
	a := newAuthority(t)
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"pinset://shop/device/d1", true},
		{"pinset://shop/device/d1?x=1", false},
		{"pinset://shop:1/device/d1", false},
		{"pinset://u@shop/device/d1", false},
		{"spiffe://shop/device/d1", false},
		{"pinset://shop/devices/d1", false},
		{"pinset://shop/device/d1/x", false},
		{"pinset://sh%20op/device/d1", false},
	} {
		u, err := parseURL(tc.uri)
		if err != nil {
			if tc.ok {
				t.Fatal(err)
			}
			continue
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), URIs: []*urlT{u}, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.CA.cert, &newKey(t).PublicKey, a.CA.key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		if _, err := IdentityOf(c); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.uri, err)
		}
	}
}
