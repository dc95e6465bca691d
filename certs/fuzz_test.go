package certs

import (
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

// FuzzCheckStored: a kept chain file is untrusted input (anyone who can
// write the ring directory). Whatever the bytes, CheckStored does not
// panic, and what it accepts has the wanted key, covers the name, is in
// order, bounded and valid at the time asked for.
func FuzzCheckStored(f *testing.F) {
	h := pki.Must(pki.NewHierarchy(pki.Template{Rand: pki.NewDeterministicRand("fuzz")}, "api.example.com"))
	want := h.Leaf.Pin()
	now := h.Leaf.Cert.NotBefore.Add(time.Hour)
	f.Add(h.Leaf.ChainPEM())
	f.Add(h.Leaf.CertPEM())
	f.Add(append(h.Leaf.CertPEM(), h.Root.CertPEM()...))
	f.Add(h.Leaf.KeyPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := CheckStored(b, want, []string{"api.example.com"}, now)
		if err != nil {
			return
		}
		leaf := chain[0]
		if pin.FromCertificate(leaf) != want || leaf.VerifyHostname("api.example.com") != nil ||
			len(chain) > MaxStoredChain || now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			t.Fatalf("accepted a chain it should not have: %d certificates, leaf %s", len(chain), leaf.Subject)
		}
		for i := 1; i < len(chain); i++ {
			if chain[i-1].CheckSignatureFrom(chain[i]) != nil {
				t.Fatalf("accepted a chain out of order at %d", i)
			}
		}
	})
}
