// Package ecdsakey makes ECDSA private keys from the bytes of a reader, so
// that a seeded reader gives the same key every time. Since Go 1.26
// ecdsa.GenerateKey ignores its reader; the signing keys of trust, the
// server keys of keyring and the test hierarchies of internal/pki all need
// keys that depend only on the reader, and draw them here.
package ecdsakey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
)

// MaxTries bounds the scalars drawn: a scalar that is zero or not below the
// group order is drawn again, which for P-256 and P-384 almost never
// happens, so a source that gives MaxTries invalid ones is broken.
const MaxTries = 100

// ErrNoScalar is the error of FromReader for a source that gave no valid
// scalar in MaxTries draws.
var ErrNoScalar = errors.New("random source gave no valid ECDSA scalar")

// FromReader reads candidate scalars of the curve's size from rnd until one
// is a valid private key (in [1, n-1]) and returns that key. An error
// reading rnd is returned wrapped.
func FromReader(c elliptic.Curve, rnd io.Reader) (*ecdsa.PrivateKey, error) {
	buf := make([]byte, (c.Params().BitSize+7)/8)
	for range MaxTries {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("reading ECDSA scalar: %w", err)
		}
		if k, err := ecdsa.ParseRawPrivateKey(c, buf); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w in %d tries", ErrNoScalar, MaxTries)
}
