// Package device is pinset's device-certificate authority: it owns every
// decision about the client certificates of managed devices, which
// `pinset edge` (or any TLS server) then verifies with mutual TLS.
//
// # The model
//
//   - An operator makes a CA once ([NewCA], `pinset device ca new`): a P-256
//     key (written 0600) and a self-signed certificate that may sign only
//     certificates and CRLs.
//   - For each device the operator (or a provisioning system) asks `pinset
//     serve` for a one-time enrollment token ([Authority.NewToken]): 32
//     random bytes, stored as their SHA-256 only, valid once and for a
//     limited time, bound to the app and to the device's id.
//   - The device generates its key itself (it never leaves the device) and
//     sends the token and a CSR ([EnrollRequest]); [Authority.Enroll] checks
//     the CSR's signature and key, spends the token and issues a
//     short-lived certificate (default 7 days) for client authentication
//     only, naming the device as the URI SAN pinset://APP/device/ID
//     ([Identity]).
//   - Before it expires, the device renews ([Authority.Renew]) with its
//     current certificate: presented in the TLS handshake, or sent in the
//     request when the CSR is signed by the same key (the signature is the
//     proof of possession). A revoked, expired, unknown or foreign
//     certificate gets nothing.
//   - An operator revokes a device ([Authority.Revoke]): every certificate
//     it holds goes into the app's CRL ([Authority.CRL]), a plain X.509 CRL
//     (RFC 5280) with a number and a nextUpdate, served by `pinset serve`
//     for the edge to fetch.
//
// Everything the CA is asked to sign comes from the network: requests are
// decoded strictly and within size limits ([DecodeEnrollRequest]), and of a
// CSR only its public key is used: the subject, names and extensions it
// asks for are ignored, the CA sets them.
package device

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"time"
)

// CALifetime is the validity of a CA made by [NewCA].
const CALifetime = 10 * 365 * 24 * time.Hour

// CA is a device CA: its certificate and signing key.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA makes a CA: a P-256 key and a self-signed certificate named name
// (default "pinset device CA") valid from now for [CALifetime], which may
// sign certificates and CRLs and no intermediate CA. It returns both in
// PEM; the caller writes the key 0600. rnd nil means crypto/rand.
func NewCA(name string, now time.Time, rnd io.Reader) (keyPEM, certPEM []byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if name == "" {
		name = "pinset device CA"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial(rnd)
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	ski := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ParseCA reads a CA from its PEM certificate and PKCS #8 (or SEC 1) PEM
// key; the key must be the certificate's, and the certificate a CA's that
// may sign certificates and CRLs.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("device CA certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 || cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, errors.New("device CA certificate: not a CA that may sign certificates and CRLs")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("device CA key: no PEM block")
	}
	var key any
	switch kb.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		return nil, fmt.Errorf("device CA key: PEM block %q: use PRIVATE KEY (PKCS #8) or EC PRIVATE KEY", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("device CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("device CA key: not a signing key")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("device CA key: it is not the key of the CA certificate")
	}
	return &CA{cert: cert, key: signer}, nil
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a pool holding only the CA's certificate (a TLS server's
// ClientCAs).
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// newSerial returns a random positive serial of at most 127 bits (RFC 5280
// 4.1.2.2: positive, at most 20 octets; unpredictable).
func newSerial(rnd io.Reader) (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return nil, err
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// issue signs a client certificate for id and pub, valid from now for
// lifetime (never past the CA's own expiry).
func (ca *CA) issue(id Identity, pub crypto.PublicKey, now time.Time, lifetime time.Duration, rnd io.Reader) (*x509.Certificate, error) {
	serial, err := newSerial(rnd)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.ID, OrganizationalUnit: []string{id.App}},
		// A minute back for clocks that run a little slow.
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URI()},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
