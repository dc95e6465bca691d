package edge

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
)

func makeCRL(t testing.TB, ca *pki.CA, num int64, this, next time.Time, serials ...int64) []byte {
	rl := &x509.RevocationList{Number: big.NewInt(num), ThisUpdate: this, NextUpdate: next}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCheckCRL: only a current list issued and signed by the device CA,
// not older than the one held, is used; without one every device is
// refused.
func TestCheckCRL(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ca := pki.Must(pki.NewRoot(pki.Template{CommonName: "device CA", Now: func() time.Time { return now }}))
	sameName := pki.Must(pki.NewRoot(pki.Template{CommonName: "device CA", Now: func() time.Time { return now }}))
	good := makeCRL(t, ca, 5, now.Add(-time.Minute), now.Add(time.Hour), 7)
	held, err := checkCRL(good, ca.Cert, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	pemGood := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: good})
	if _, err := checkCRL(pemGood, ca.Cert, nil, now); err != nil {
		t.Errorf("PEM: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		prev *x509.RevocationList
		want error
	}{
		{"signed by another CA of the same name", makeCRL(t, sameName, 6, now, now.Add(time.Hour)), nil, ErrCRLInvalid},
		{"past nextUpdate", makeCRL(t, ca, 6, now.Add(-2*time.Hour), now.Add(-time.Hour)), nil, ErrCRLStale},
		{"thisUpdate in the future", makeCRL(t, ca, 6, now.Add(time.Hour), now.Add(2*time.Hour)), nil, ErrCRLInvalid},
		{"older number (replay)", makeCRL(t, ca, 4, now, now.Add(time.Hour)), held, ErrCRLInvalid},
		{"older thisUpdate", makeCRL(t, ca, 6, now.Add(-time.Hour), now.Add(time.Hour)), held, ErrCRLInvalid},
		{"PEM with another block", append(pemGood, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})...), nil, ErrCRLInvalid},
		{"a certificate, not a CRL", ca.Cert.Raw, nil, ErrCRLInvalid},
		{"empty", nil, nil, ErrCRLInvalid},
	} {
		if _, err := checkCRL(tc.b, ca.Cert, tc.prev, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// Revocations from a file: fail closed before the first list and once
	// the held list is past nextUpdate.
	dir := t.TempDir()
	clock := now
	rv := &Revocations{CA: ca.Cert, Source: filepath.Join(dir, "crl.der"), Now: func() time.Time { return clock }}
	dev := &x509.Certificate{SerialNumber: big.NewInt(7)}
	okDev := &x509.Certificate{SerialNumber: big.NewInt(8)}
	if err := rv.Check(okDev); !errors.Is(err, ErrNoCRL) {
		t.Errorf("before any list: %v", err)
	}
	writeFile(t, rv.Source, pemGood, 0o644)
	if err := rv.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := rv.Check(dev); !errors.Is(err, ErrRevoked) {
		t.Errorf("serial 7: %v", err)
	}
	if err := rv.Check(okDev); err != nil {
		t.Errorf("serial 8: %v", err)
	}
	writeFile(t, rv.Source, makeCRL(t, ca, 4, now, now.Add(time.Hour)), 0o644)
	if err := rv.Update(t.Context()); !errors.Is(err, ErrCRLInvalid) || rv.Check(dev) == nil {
		t.Errorf("a replayed older list un-revoked serial 7: %v", err)
	}
	clock = now.Add(2 * time.Hour)
	if err := rv.Check(okDev); !errors.Is(err, ErrCRLStale) {
		t.Errorf("past nextUpdate: %v", err)
	}
	os.Remove(rv.Source)
	if err := rv.Update(t.Context()); err == nil {
		t.Errorf("missing file: no error")
	}
}

// FuzzCheckCRL: no input makes checkCRL panic or accept a list the CA did
// not sign.
func FuzzCheckCRL(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	ca := pki.Must(pki.NewRoot(pki.Template{CommonName: "device CA", Now: func() time.Time { return now }}))
	good := makeCRL(f, ca, 5, now.Add(-time.Minute), now.Add(time.Hour), 7, 8)
	f.Add(good)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: good}))
	f.Add(ca.Cert.Raw)
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rl, err := checkCRL(b, ca.Cert, nil, now)
		if err == nil && rl.CheckSignatureFrom(ca.Cert) != nil {
			t.Fatalf("accepted a list the CA did not sign")
		}
	})
}
