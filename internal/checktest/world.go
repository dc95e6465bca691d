package checktest

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

// Epoch is the fixed time certificates are issued at in a World.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// World is a deterministic test PKI: a root and an issuing intermediate,
// and named keys for the leaves of one host.
type World struct {
	Host  string
	Root  *pki.CA
	Inter *pki.CA
	keys  map[string]crypto.Signer
	t     testing.TB
}

// NewWorld makes the root and intermediate (valid ten years from Epoch).
func NewWorld(t testing.TB, host string) *World {
	t.Helper()
	now := func() time.Time { return Epoch }
	root := pki.Must(pki.NewRoot(pki.Template{CommonName: "checktest root", Now: now, Rand: pki.NewDeterministicRand("checktest root")}))
	inter := pki.Must(root.NewIntermediate(pki.Template{CommonName: "checktest issuing CA", Now: now, Rand: pki.NewDeterministicRand("checktest inter")}))
	return &World{Host: host, Root: root, Inter: inter, keys: map[string]crypto.Signer{}, t: t}
}

// Pool returns the root as a RootCAs pool.
func (w *World) Pool() *x509.CertPool { return w.Root.Pool() }

// Key returns the P-256 key called name (the same name, the same key).
func (w *World) Key(name string) crypto.Signer {
	if k, ok := w.keys[name]; ok {
		return k
	}
	k := pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("checktest key "+name)))
	w.keys[name] = k
	return k
}

// Pin returns the pin of the key called name.
func (w *World) Pin(name string) pin.Pin {
	p, err := pin.FromPublicKey(w.Key(name).Public())
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// Leaf issues a leaf for the host with the key called name, valid for
// validity from Epoch, as a server presents it.
func (w *World) Leaf(name string, validity time.Duration) tls.Certificate {
	l := pki.Must(w.Inter.NewLeaf(pki.Template{
		Hosts: []string{w.Host}, Key: w.Key(name), Validity: validity,
		Now: func() time.Time { return Epoch }, Rand: pki.NewDeterministicRand("checktest leaf " + name),
	}))
	return l.TLSCertificate()
}

// SelfSigned returns a self-signed certificate for the host, which no
// client trusts.
func (w *World) SelfSigned(name string) tls.Certificate {
	l := pki.Must(pki.NewSelfSigned(pki.Template{
		Hosts: []string{w.Host}, Key: w.Key(name),
		Now: func() time.Time { return Epoch }, Rand: pki.NewDeterministicRand("checktest self " + name),
	}))
	return l.TLSCertificate()
}
