// Package pki builds small certificate hierarchies for tests and demos.
//
// It is not a CA for production use: keys live in memory, and nothing is
// revoked or logged. It exists so that every test in pinset (and `pinset
// demo`) can stand up real TLS servers on loopback with chains it controls:
//
//	root, _ := pki.NewRoot(pki.Template{CommonName: "Test Root"})
//	inter, _ := root.NewIntermediate(pki.Template{CommonName: "Test Issuing CA"})
//	leaf, _ := inter.NewLeaf(pki.Template{Hosts: []string{"api.example.test", "127.0.0.1"}})
//	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
//	client.RootCAs = root.Pool()
//
// [NewHierarchy] does those three steps at once. Keys are P-256 unless a
// [Template] asks for [P384], [RSA2048] or [Ed25519], or supplies its own key
// (so that a renewed certificate can keep its key, and its pin).
//
// Randomness: a [Template.Rand] makes P-256, P-384 and Ed25519 keys and
// serial numbers deterministic (the reader supplies the private scalar or
// seed). RSA key generation in Go 1.26 always uses the system's secure
// source, so RSA keys are random whatever the reader. Validity windows come
// from [Template.NotBefore] and [Template.NotAfter], or from [Template.Now]
// when those are zero; nothing here reads the wall clock when Now is given.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"

	"pinset.dev/pinset/internal/ecdsakey"
	"pinset.dev/pinset/pin"
)

// KeyType names a key algorithm and size.
type KeyType string

// The key types pki generates.
const (
	P256    KeyType = "p256"
	P384    KeyType = "p384"
	RSA2048 KeyType = "rsa2048"
	Ed25519 KeyType = "ed25519"
)

// KeyTypes lists every key type, in the order documentation shows them.
var KeyTypes = []KeyType{P256, P384, RSA2048, Ed25519}

// NewKey generates a private key of type kt. A nil rand means crypto/rand.
// For P-256, P-384 and Ed25519 the key is derived from bytes read from rand,
// so a deterministic reader gives a deterministic key; RSA ignores rand (see
// the package comment).
func NewKey(kt KeyType, rnd io.Reader) (crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch kt {
	case P256, "":
		return ecdsaKey(elliptic.P256(), rnd)
	case P384:
		return ecdsaKey(elliptic.P384(), rnd)
	case Ed25519:
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(rnd, seed); err != nil {
			return nil, fmt.Errorf("pki: reading Ed25519 seed: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("pki: unknown key type %q (want p256, p384, rsa2048 or ed25519)", kt)
	}
}

// ecdsaKey is ecdsakey.FromReader with this package's prefix on errors.
func ecdsaKey(c elliptic.Curve, rnd io.Reader) (crypto.Signer, error) {
	k, err := ecdsakey.FromReader(c, rnd)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return k, nil
}

// Template describes a certificate to issue. Every field is optional.
type Template struct {
	// CommonName of the subject. Defaults: "pinset test root", "pinset
	// test intermediate", or the first host for leaves.
	CommonName string
	// Organization of the subject, if any.
	Organization string
	// Hosts are the DNS names and IP addresses a leaf is valid for.
	Hosts []string
	// Key is the certificate's key. When nil, a key of KeyType is made.
	Key crypto.Signer
	// KeyType is used when Key is nil; the default is P256.
	KeyType KeyType
	// NotBefore and NotAfter bound validity. When zero, NotBefore is an
	// hour before Now and NotAfter is Validity after Now.
	NotBefore, NotAfter time.Time
	// Validity is the lifetime when NotAfter is zero. Defaults: 10 years
	// for CAs, 90 days for leaves.
	Validity time.Duration
	// Now is the reference time; nil means time.Now.
	Now func() time.Time
	// Rand supplies key material and serial numbers; nil means crypto/rand.
	Rand io.Reader
	// MaxPathLenZero makes a CA that may issue leaves only, not further
	// CAs (path length constraint 0). By default CAs have no constraint.
	MaxPathLenZero bool
	// ClientAuth makes a leaf a TLS client certificate (extended key
	// usage clientAuth) instead of a server one.
	ClientAuth bool
}

func (t Template) rand() io.Reader {
	if t.Rand == nil {
		return rand.Reader
	}
	return t.Rand
}

func (t Template) window(def time.Duration) (time.Time, time.Time) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	nb, na := t.NotBefore, t.NotAfter
	if nb.IsZero() {
		nb = now().Add(-time.Hour)
	}
	if na.IsZero() {
		d := t.Validity
		if d == 0 {
			d = def
		}
		na = now().Add(d)
	}
	return nb.UTC().Truncate(time.Second), na.UTC().Truncate(time.Second)
}

func (t Template) key() (crypto.Signer, error) {
	if t.Key != nil {
		return t.Key, nil
	}
	return NewKey(t.KeyType, t.rand())
}

func (t Template) serial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(t.rand(), b); err != nil {
		return nil, fmt.Errorf("pki: reading serial number: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x01 // positive and non-zero
	return new(big.Int).SetBytes(b), nil
}

// CA is a certificate authority: a root or an intermediate.
type CA struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Parent *CA // nil for a root
}

// Leaf is an end-entity certificate with its key and the chain up to (and
// including) its root.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the leaf, then each issuer up to the root (inclusive).
	Chain []*x509.Certificate
}

// Hierarchy is a root, one intermediate under it, and a leaf under that.
type Hierarchy struct {
	Root         *CA
	Intermediate *CA
	Leaf         *Leaf
}

// NewHierarchy makes a root, an intermediate and a leaf for hosts, all with
// the key type and clock of t (t.Hosts is replaced by hosts).
func NewHierarchy(t Template, hosts ...string) (*Hierarchy, error) {
	rt := t
	rt.Hosts = nil
	root, err := NewRoot(rt)
	if err != nil {
		return nil, err
	}
	inter, err := root.NewIntermediate(rt)
	if err != nil {
		return nil, err
	}
	lt := t
	lt.Hosts = hosts
	lt.CommonName = ""
	leaf, err := inter.NewLeaf(lt)
	if err != nil {
		return nil, err
	}
	return &Hierarchy{Root: root, Intermediate: inter, Leaf: leaf}, nil
}

// NewRoot makes a self-signed root CA.
func NewRoot(t Template) (*CA, error) { return newCA(t, "pinset test root", nil) }

// NewIntermediate makes a CA certificate signed by ca.
func (ca *CA) NewIntermediate(t Template) (*CA, error) {
	return newCA(t, "pinset test intermediate", ca)
}

// newCA makes a CA certificate signed by parent, or self-signed when
// parent is nil, named cn unless t names it.
func newCA(t Template, cn string, parent *CA) (*CA, error) {
	if t.CommonName == "" {
		t.CommonName = cn
	}
	key, err := t.key()
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(t)
	if err != nil {
		return nil, err
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	cert, err := sign(tmpl, issuer, key.Public(), signer, t.rand())
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, Parent: parent}, nil
}

func caTemplate(t Template) (*x509.Certificate, error) {
	serial, err := t.serial()
	if err != nil {
		return nil, err
	}
	nb, na := t.window(10 * 365 * 24 * time.Hour)
	c := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name(t),
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        t.MaxPathLenZero,
	}
	return c, nil
}

func name(t Template) pkix.Name {
	n := pkix.Name{CommonName: t.CommonName}
	if t.Organization != "" {
		n.Organization = []string{t.Organization}
	}
	return n
}

// NewLeaf issues a server certificate for t.Hosts (DNS names and IP
// literals; IPv6 may be given with or without brackets).
func (ca *CA) NewLeaf(t Template) (*Leaf, error) {
	tmpl, key, err := leafTemplate(t)
	if err != nil {
		return nil, err
	}
	cert, err := sign(tmpl, ca.Cert, key.Public(), ca.Key, t.rand())
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{cert}
	for c := ca; c != nil; c = c.Parent {
		chain = append(chain, c.Cert)
	}
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

// NewSelfSigned makes a self-signed server certificate for t.Hosts, as
// misconfigured or intercepting servers present.
func NewSelfSigned(t Template) (*Leaf, error) {
	tmpl, key, err := leafTemplate(t)
	if err != nil {
		return nil, err
	}
	cert, err := sign(tmpl, tmpl, key.Public(), key, t.rand())
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key, Chain: []*x509.Certificate{cert}}, nil
}

func leafTemplate(t Template) (*x509.Certificate, crypto.Signer, error) {
	if len(t.Hosts) == 0 {
		return nil, nil, errors.New("pki: a leaf needs at least one host name or IP address")
	}
	key, err := t.key()
	if err != nil {
		return nil, nil, err
	}
	serial, err := t.serial()
	if err != nil {
		return nil, nil, err
	}
	if t.CommonName == "" {
		t.CommonName = strings.Trim(t.Hosts[0], "[]")
	}
	nb, na := t.window(90 * 24 * time.Hour)
	c := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name(t),
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if t.ClientAuth {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		c.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, h := range t.Hosts {
		h = strings.Trim(h, "[]")
		if ip := net.ParseIP(h); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else {
			c.DNSNames = append(c.DNSNames, h)
		}
	}
	return c, key, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, rnd io.Reader) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rnd, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("pki: signing %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// Pin returns the pin of the CA's key.
func (ca *CA) Pin() pin.Pin { return pin.FromCertificate(ca.Cert) }

// Pool returns a certificate pool holding only this CA, for RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return CertPEM(ca.Cert) }

// KeyPEM returns the CA's private key as PKCS#8 PEM. Write it with mode 0600.
func (ca *CA) KeyPEM() []byte { return KeyPEM(ca.Key) }

// Pin returns the pin of the leaf's key.
func (l *Leaf) Pin() pin.Pin { return pin.FromCertificate(l.Cert) }

// Pins returns the pins of the whole chain, leaf first.
func (l *Leaf) Pins() []pin.Pin {
	out := make([]pin.Pin, len(l.Chain))
	for i, c := range l.Chain {
		out[i] = pin.FromCertificate(c)
	}
	return out
}

// TLSCertificate returns the leaf as a server would present it: the leaf
// and its intermediates, without the root (which clients already hold),
// followed by extra certificates if any (to build misleading chains such as
// the one of CVE-2016-2402).
func (l *Leaf) TLSCertificate(extra ...*x509.Certificate) tls.Certificate {
	served := l.Chain
	if len(served) > 1 {
		served = served[:len(served)-1]
	}
	tc := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	for _, c := range served {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	for _, c := range extra {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc
}

// CertPEM returns the leaf certificate alone in PEM.
func (l *Leaf) CertPEM() []byte { return CertPEM(l.Cert) }

// ChainPEM returns the served chain (leaf and intermediates, no root) in PEM,
// as a server's certificate file holds it.
func (l *Leaf) ChainPEM() []byte {
	served := l.Chain
	if len(served) > 1 {
		served = served[:len(served)-1]
	}
	return CertPEM(served...)
}

// KeyPEM returns the leaf's private key as PKCS#8 PEM. Write it with mode 0600.
func (l *Leaf) KeyPEM() []byte { return KeyPEM(l.Key) }

// CertPEM encodes certificates as consecutive PEM CERTIFICATE blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// KeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" PEM block. It
// panics on key types x509 cannot marshal, which NewKey never returns.
func KeyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(fmt.Sprintf("pki: marshal %T: %v", key, err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicKeyPEM encodes a public key as a "PUBLIC KEY" (SPKI) PEM block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Must returns v, panicking if err is not nil. It keeps test set-up short:
//
//	h := pki.Must(pki.NewHierarchy(pki.Template{}, "127.0.0.1"))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
