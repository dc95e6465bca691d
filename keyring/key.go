// Package keyring owns the private keys that TLS servers present: making
// them, writing and reading them, and keeping, per host, the live key and
// the next key(s) that a pin manifest announces before any certificate
// exists for them.
//
// # Keys
//
// [Generate] makes a key of a [Type] (P-256, the default, P-384, RSA 2048
// or RSA 3072). [MarshalPEM] writes it as PKCS#8 PEM and [ParsePEM] reads
// PKCS#8, SEC 1 ("EC PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY") PEM, so
// keys made by OpenSSL or another ACME client can be used too. [WriteNew]
// writes a key file with mode 0600 and never replaces an existing file.
//
// # Rings
//
// A [Ring] is one directory per host (layout in docs/rotation.md):
//
//	DIR/HOST/ring.json        {"host": ..., "live": PIN, "next": [PIN...], "retired": [PIN...]}
//	DIR/HOST/<hex pin>.key    one file per key, PKCS#8 PEM, mode 0600
//
// Key files are named by their pin and never change; ring.json alone says
// which key is live and which come next, and it is replaced atomically, so
// a crash leaves the old or the new ring, never half of one. Loading a key
// checks that its pin is the one in its name.
package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"pinset.dev/pinset/internal/ecdsakey"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/pin"
)

// Type names a server key algorithm and size.
type Type string

// The server key types. ECDSA P-256 is the default: every TLS client and
// every public CA accepts it, and it is small and fast.
const (
	P256    Type = "p256"
	P384    Type = "p384"
	RSA2048 Type = "rsa2048"
	RSA3072 Type = "rsa3072"
)

// Types lists every type, in the order documentation shows them.
var Types = []Type{P256, P384, RSA2048, RSA3072}

// ParseType reads a type name; the empty string is P256.
func ParseType(s string) (Type, error) {
	t := Type(strings.ToLower(strings.TrimSpace(s)))
	if t == "" {
		return P256, nil
	}
	for _, k := range Types {
		if t == k {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown server key type %q (want p256, p384, rsa2048 or rsa3072)", s)
}

// Generate makes a new private key of type t from rnd (nil means
// crypto/rand). RSA key generation in Go ignores rnd's bytes for
// determinism, so only ECDSA keys follow a seeded reader.
func Generate(t Type, rnd io.Reader) (crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch t {
	case P256, "":
		return ecdsakey.FromReader(elliptic.P256(), rnd)
	case P384:
		return ecdsakey.FromReader(elliptic.P384(), rnd)
	case RSA2048:
		return rsa.GenerateKey(rnd, 2048)
	case RSA3072:
		return rsa.GenerateKey(rnd, 3072)
	default:
		return nil, fmt.Errorf("unknown server key type %q (want p256, p384, rsa2048 or rsa3072)", t)
	}
}

// TypeOf names the type of a key, or "" when it is none of Types.
func TypeOf(pub crypto.PublicKey) Type {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return P256
		case elliptic.P384():
			return P384
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		}
	}
	return ""
}

// Pin is the SPKI pin of a private key's public half.
func Pin(key crypto.Signer) (pin.Pin, error) { return pin.FromPublicKey(key.Public()) }

// MarshalPEM returns key as an unencrypted PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MaxKeyFile bounds the key files ParsePEM is given by its callers: an RSA
// 8192 key in PEM is under 7 KiB.
const MaxKeyFile = 64 << 10

// ParsePEM reads one private key: PKCS#8 "PRIVATE KEY", SEC 1 "EC PRIVATE
// KEY" or PKCS#1 "RSA PRIVATE KEY". Encrypted keys, other blocks and more
// than one key are refused; EC parameter blocks that OpenSSL writes before
// a SEC 1 key are skipped.
func ParsePEM(data []byte) (crypto.Signer, error) {
	if len(data) > MaxKeyFile {
		return nil, fmt.Errorf("key file is %d bytes, more than the %d a private key needs", len(data), MaxKeyFile)
	}
	var found crypto.Signer
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var k any
		var err error
		switch b.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted; a server key must be readable by the server without a passphrase (decrypt it with openssl pkey)")
		default:
			return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: a %T cannot sign", b.Type, k)
		}
		if found != nil {
			return nil, errors.New("more than one private key in the file")
		}
		found = s
	}
	if found == nil {
		return nil, errors.New("no PEM private key found (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)")
	}
	if _, ok := found.(interface{ Public() crypto.PublicKey }); !ok || found.Public() == nil {
		return nil, errors.New("the private key has no public key")
	}
	return found, nil
}

// ReadFile reads a private key file with ParsePEM, at most MaxKeyFile bytes.
func ReadFile(name string) (crypto.Signer, error) {
	b, err := input.ReadFile(name, MaxKeyFile)
	if err != nil {
		return nil, err
	}
	k, err := ParsePEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// ErrExist is returned by WriteNew when the file is already there.
var ErrExist = os.ErrExist

// WriteNew creates name with data and mode 0600 (whatever the umask). It
// never replaces a file: an existing name is an error wrapping ErrExist.
// Half-written files are removed.
func WriteNew(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // the umask must not widen a private key
		f.Close()
		os.Remove(name)
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	return f.Close()
}
