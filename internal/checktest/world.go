package checktest

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// Epoch is the fixed time certificates are issued at in a World.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// World is a deterministic test PKI: a root and an issuing intermediate,
// and named keys for the leaves of one host.
type World struct {
	Host string
	// Epoch is when certificates are issued (checktest.Epoch by default).
	Epoch time.Time
	Root  *pki.CA
	Inter *pki.CA
	keys  map[string]crypto.Signer
	t     testing.TB
}

// NewWorld makes the root and intermediate (valid ten years from Epoch).
func NewWorld(t testing.TB, host string) *World { return NewWorldAt(t, host, Epoch) }

// NewWorldAt is NewWorld with certificates issued at epoch: command-line
// tests, which verify at the wall clock, pass time.Now().
func NewWorldAt(t testing.TB, host string, epoch time.Time) *World {
	t.Helper()
	now := func() time.Time { return epoch }
	root := pki.Must(pki.NewRoot(pki.Template{CommonName: "checktest root", Now: now, Rand: pki.NewDeterministicRand("checktest root")}))
	inter := pki.Must(root.NewIntermediate(pki.Template{CommonName: "checktest issuing CA", Now: now, Rand: pki.NewDeterministicRand("checktest inter")}))
	return &World{Host: host, Epoch: epoch, Root: root, Inter: inter, keys: map[string]crypto.Signer{}, t: t}
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
// validity from w.Epoch, as a server presents it.
func (w *World) Leaf(name string, validity time.Duration) tls.Certificate {
	l := pki.Must(w.Inter.NewLeaf(pki.Template{
		Hosts: []string{w.Host}, Key: w.Key(name), Validity: validity,
		Now: func() time.Time { return w.Epoch }, Rand: pki.NewDeterministicRand("checktest leaf " + name),
	}))
	return l.TLSCertificate()
}

// SelfSigned returns a self-signed certificate for the host, which no
// client trusts.
func (w *World) SelfSigned(name string) tls.Certificate {
	l := pki.Must(pki.NewSelfSigned(pki.Template{
		Hosts: []string{w.Host}, Key: w.Key(name),
		Now: func() time.Time { return w.Epoch }, Rand: pki.NewDeterministicRand("checktest self " + name),
	}))
	return l.TLSCertificate()
}

// Documents returns a signed root (one root key, one pins key, threshold
// 1) and a manifest of version for policies, for the app "com.example.check",
// valid from w.Epoch for a year.
func (w *World) Documents(version uint64, policies []policy.Policy) (root, manifest []byte) {
	w.t.Helper()
	rnd := pki.NewDeterministicRand("checktest documents")
	rootSigner := pki.Must(trust.GenerateKey(trust.ECDSAP256SHA256, rnd))
	pinsSigner := pki.Must(trust.GenerateKey(trust.ECDSAP256SHA256, rnd))
	r := &trust.Root{
		AppID: "com.example.check", Version: 1, Expires: w.Epoch.Add(365 * 24 * time.Hour),
		Keys:     []*trust.Key{rootSigner.Key, pinsSigner.Key},
		RootRole: trust.Role{KeyIDs: []string{rootSigner.Key.ID}, Threshold: 1},
		PinsRole: trust.Role{KeyIDs: []string{pinsSigner.Key.ID}, Threshold: 1},
	}
	m := &trust.Manifest{AppID: r.AppID, Version: version, RootVersion: 1, IssuedAt: w.Epoch, Expires: w.Epoch.Add(365 * 24 * time.Hour), Hosts: policies}
	sign := func(env *trust.Envelope, err error, s *trust.Signer) []byte {
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := env.Sign(s, rnd); err != nil {
			w.t.Fatal(err)
		}
		return pki.Must(env.Marshal())
	}
	re, err := r.Envelope()
	root = sign(re, err, rootSigner)
	me, err := m.Envelope()
	manifest = sign(me, err, pinsSigner)
	return root, manifest
}

// Options returns check options for a fleet of this world: its root, the
// fleet's port and resolve map, a 5s timeout, and a clock one day after
// Epoch.
func Options(w *World, f *Fleet) check.Options {
	return check.Options{RootCAs: w.Pool(), Timeout: 5 * time.Second, Resolve: f.Resolve(), DefaultPort: f.Port,
		Now: func() time.Time { return w.Epoch.Add(24 * time.Hour) }}
}
