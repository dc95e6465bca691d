package device

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"pinset.dev/pinset/internal/input"
)

// Errors of the device authority; test with errors.Is. The service maps
// them to its answers (docs/devices.md).
var (
	// ErrMalformed: a request body that does not decode strictly.
	ErrMalformed = errors.New("malformed device request")
	// ErrTooLarge: a request body or CSR over its limit.
	ErrTooLarge = errors.New("device request too large")
	// ErrBadCSR: a CSR that does not parse, whose signature does not
	// verify, or whose key is not allowed.
	ErrBadCSR = errors.New("bad certificate request")
	// ErrBadToken: an enrollment token that is unknown, used, expired or
	// another app's (one answer for all four).
	ErrBadToken = errors.New("enrollment token unknown, already used or expired")
	// ErrNotDeviceCert: a certificate this CA did not issue to a device of
	// this app for client authentication, or that is not valid now.
	ErrNotDeviceCert = errors.New("not a valid device certificate of this CA")
	// ErrRevoked: the device (or this certificate) was revoked.
	ErrRevoked = errors.New("device certificate revoked")
	// ErrKeyMismatch: a renewal without mutual TLS whose CSR is not signed
	// by the current certificate's key.
	ErrKeyMismatch = errors.New("the CSR's key is not the current certificate's key")
	// ErrUnknownDevice: no such device (revocation).
	ErrUnknownDevice = errors.New("no such device, or already revoked")
)

// Limits of what the enrollment and renewal endpoints read.
const (
	MaxRequestBytes = 16 << 10
	MaxCSRBytes     = 8 << 10
	MaxTokenLen     = 128
)

// EnrollRequest is the body of POST /v1/apps/{app}/devices/enroll.
type EnrollRequest struct {
	Token string `json:"token"` // the one-time enrollment token
	CSR   string `json:"csr"`   // PEM CERTIFICATE REQUEST, signed by the device's key
}

// RenewRequest is the body of POST /v1/apps/{app}/devices/renew.
type RenewRequest struct {
	CSR string `json:"csr"`
	// Certificate is the current certificate (PEM) when it is not
	// presented in the TLS handshake; the CSR must then be signed by its
	// key.
	Certificate string `json:"certificate,omitempty"`
}

// DecodeEnrollRequest decodes an enrollment request strictly: one JSON
// object of at most MaxRequestBytes, no unknown or duplicate-free junk
// after it, both fields present and within their limits.
func DecodeEnrollRequest(r io.Reader) (*EnrollRequest, error) {
	var req EnrollRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if req.Token == "" || req.CSR == "" {
		return nil, fmt.Errorf("%w: token and csr are required", ErrMalformed)
	}
	if len(req.Token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrMalformed, MaxTokenLen)
	}
	if len(req.CSR) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: csr over %d bytes", ErrTooLarge, MaxCSRBytes)
	}
	return &req, nil
}

// DecodeRenewRequest decodes a renewal request as strictly.
func DecodeRenewRequest(r io.Reader) (*RenewRequest, error) {
	var req RenewRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if req.CSR == "" {
		return nil, fmt.Errorf("%w: csr is required", ErrMalformed)
	}
	if len(req.CSR) > MaxCSRBytes || len(req.Certificate) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: csr or certificate over %d bytes", ErrTooLarge, MaxCSRBytes)
	}
	return &req, nil
}

// decodeStrict reads a request body with input.DecodeJSON (strict, at
// most MaxRequestBytes) and names the failure with this package's errors.
func decodeStrict(r io.Reader, v any) error {
	err := input.DecodeJSON(r, MaxRequestBytes, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, input.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body", ErrMalformed)
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

// ParseCSR parses a PEM CERTIFICATE REQUEST, checks its signature (the
// proof that the requester holds the key) and its key: ECDSA P-256 or
// P-384, Ed25519, or RSA of 2048 to 8192 bits. Only the key is used; the
// subject, names and extensions requested are ignored.
func ParseCSR(pemText string) (*x509.CertificateRequest, error) {
	if len(pemText) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxCSRBytes)
	}
	blk, rest := pem.Decode([]byte(pemText))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE REQUEST block", ErrBadCSR)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: data after the CERTIFICATE REQUEST block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	return csr, nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return errors.New("ECDSA key must be on P-256 or P-384")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 8192 {
			return fmt.Errorf("RSA key of %d bits: use 2048 to 8192", n)
		}
	default:
		return fmt.Errorf("key type %T is not allowed", pub)
	}
	return nil
}
