// Package device is the device CA of managed devices: the CA itself, the
// short-lived client certificates it issues from a device's certificate
// signing request (the key never leaves the device), and the X.509 CRL
// that `pinset edge` (package edge) refreshes.
//
// The CA is an ECDSA P-256 key and a self-signed certificate that may sign
// certificates and CRLs and no further CA (path length 0). Device
// certificates carry the device's id as their subject's common name,
// client authentication as their only extended key usage, and a random
// 128-bit serial number, the handle revocation uses.
package device

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Limits of what the CA issues.
const (
	MinLifetime = time.Hour
	MaxLifetime = 30 * 24 * time.Hour
	// MaxRevoked bounds a revocation list's entries.
	MaxRevoked = 1_000_000
)

// Errors of Issue.
var (
	ErrCSR      = errors.New("device: certificate request refused")
	ErrID       = errors.New("device: a device id is 1 to 128 of A-Z a-z 0-9 . _ -")
	ErrLifetime = fmt.Errorf("device: lifetime must be between %s and %s", MinLifetime, MaxLifetime)
)

// CA is the device CA.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a device CA named name, valid for validity from now.
func NewCA(name string, validity time.Duration, now time.Time, rnd io.Reader) (*CA, error) {
	if name == "" || validity <= 0 {
		return nil, errors.New("device: the CA needs a name and a validity")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	serial, err := serial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-5 * time.Minute).UTC(), NotAfter: now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads the CA's certificate and PKCS #8 key (PEM) and checks that
// they belong together and that the certificate is a CA.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("device: want a PEM CERTIFICATE and a PEM PRIVATE KEY (PKCS #8)")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device: CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device: CA key: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("device: the certificate is not a CA, or the key cannot sign")
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("device: the CA key does not belong to the CA certificate")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM and KeyPEM are the CA's files (the key as PKCS #8: write it with
// mode 0600).
func (ca *CA) CertPEM() []byte { return CertPEM(ca.Cert) }

// KeyPEM is the CA key, PKCS #8, unencrypted.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Issue is the one place that decides what a device certificate is: the
// request (DER or PEM) must be signed by its own key, an ECDSA P-256 or
// P-384, Ed25519 or RSA (2048 bits or more) key; the certificate names
// only id (nothing the request asks for is copied), is for client
// authentication only, lives lifetime (MinLifetime to MaxLifetime, never
// past the CA), and starts five minutes before now for clock skew.
func (ca *CA) Issue(csr []byte, id string, lifetime time.Duration, now time.Time, rnd io.Reader) (*x509.Certificate, error) {
	if !idPattern.MatchString(id) {
		return nil, ErrID
	}
	if lifetime < MinLifetime || lifetime > MaxLifetime {
		return nil, ErrLifetime
	}
	if b, _ := pem.Decode(csr); b != nil {
		if b.Type != "CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: a PEM %s block", ErrCSR, b.Type)
		}
		csr = b.Bytes
	}
	req, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSR, err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: not signed by its key: %v", ErrCSR, err)
	}
	if err := checkKey(req.PublicKey); err != nil {
		return nil, err
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	sn, err := serial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: id},
		NotBefore: now.Add(-5 * time.Minute).UTC(), NotAfter: notAfter.UTC(),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("%w: the key must be ECDSA P-256 or P-384, Ed25519, or RSA of 2048 bits or more", ErrCSR)
}

func serial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, err
	}
	b[0] = b[0]&0x7f | 0x01
	return new(big.Int).SetBytes(b), nil
}

// Revoked is one revoked certificate.
type Revoked struct {
	Serial *big.Int
	Time   time.Time
}

// ParseRevoked reads a revocation file: one certificate per line, its
// serial number in hexadecimal (as `openssl x509 -serial` and `pinset
// device issue` print it, colons allowed), then optionally the time of
// revocation (RFC 3339; default at). Blank lines and lines starting with
// # are skipped. Anything else is an error naming the line.
func ParseRevoked(text []byte, at time.Time) ([]Revoked, error) {
	var out []Revoked
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		s, ok := new(big.Int).SetString(strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(f[0]), "0x"), ":", ""), 16)
		if !ok || s.Sign() <= 0 || len(f) > 2 {
			return nil, fmt.Errorf("line %d: want a hexadecimal serial number and optionally an RFC 3339 time", n)
		}
		r := Revoked{Serial: s, Time: at}
		if len(f) == 2 {
			t, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			r.Time = t
		}
		if out = append(out, r); len(out) > MaxRevoked {
			return nil, fmt.Errorf("more than %d revoked certificates", MaxRevoked)
		}
	}
	return out, sc.Err()
}

// CRL signs a revocation list of revoked, issued now and valid for next.
// Its CRL number is now in Unix seconds, so lists issued later always
// carry a higher number (the edge refuses a list older than the one it
// holds).
func (ca *CA) CRL(revoked []Revoked, now time.Time, next time.Duration, rnd io.Reader) ([]byte, error) {
	if next <= 0 {
		return nil, errors.New("device: a CRL needs a positive time to its next update")
	}
	rl := &x509.RevocationList{Number: big.NewInt(now.Unix()), ThisUpdate: now.UTC(), NextUpdate: now.Add(next).UTC()}
	for _, r := range revoked {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.Time.UTC()})
	}
	der, err := x509.CreateRevocationList(rnd, rl, ca.Cert, ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// CertPEM is a certificate in PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
