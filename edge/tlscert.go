package edge

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/internal/input"
)

// maxPEM bounds the certificate and key files the edge reads.
const maxPEM = 1 << 20

// Certificate serves the edge's TLS certificate from two files (chain and
// key, PEM) and swaps it atomically when they change, so a renewal or a
// key rotation (certs, deploy, ACME) takes effect on the next handshake
// without restarting or dropping a connection. A pair that does not load
// (half-written, key and certificate apart, expired) is refused and the
// current certificate stays.
type Certificate struct {
	CertFile, KeyFile string
	Now               func() time.Time

	cur  atomic.Pointer[tls.Certificate]
	hash atomic.Pointer[[32]byte]
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Reload reads both files and, when they differ from the pair held, swaps
// to them if they pass loadPair. changed says whether it swapped.
func (c *Certificate) Reload() (changed bool, err error) {
	cb, err := input.Read(c.CertFile, maxPEM)
	if err != nil {
		return false, err
	}
	kb, err := input.Read(c.KeyFile, maxPEM)
	if err != nil {
		return false, err
	}
	h := sha256.Sum256(append(append(append([]byte{}, cb...), 0), kb...))
	if old := c.hash.Load(); old != nil && *old == h {
		return false, nil
	}
	cert, err := loadPair(cb, kb, c.Now())
	if err != nil {
		return false, fmt.Errorf("edge: %s and %s: %w (the certificate in use stays)", c.CertFile, c.KeyFile, err)
	}
	c.cur.Store(cert)
	c.hash.Store(&h)
	return true, nil
}

// loadPair is the one place that decides whether a certificate and key
// are served: they must match (tls.X509KeyPair) and the leaf must be
// within its validity period now.
func loadPair(cb, kb []byte, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certificate valid from %s to %s, not now", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cert.Leaf = leaf
	return &cert, nil
}
