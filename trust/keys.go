package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/youmark/pkcs8"

	"pinset.dev/pinset/internal/ecdsakey"
)

// Algorithm names a signature algorithm. A key's algorithm is fixed in the
// root that lists it; a signature is verified only with the algorithm of
// its key, never with one named by a message.
type Algorithm string

// The allowed algorithms.
const (
	// ECDSAP256SHA256 is ECDSA over NIST P-256 with SHA-256 and ASN.1 DER
	// signatures: Android's SHA256withECDSA, iOS CryptoKit's
	// P256.Signing.ECDSASignature(derRepresentation:). The default.
	ECDSAP256SHA256 Algorithm = "ecdsa-p256-sha256"
	// Ed25519 is pure Ed25519 (RFC 8032) over the PAE bytes.
	Ed25519 Algorithm = "ed25519"
)

// ParseAlgorithm accepts the algorithm names and the short spellings the
// command line uses ("p256", "ecdsa", "ed25519").
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "", "p256", "ecdsa", "ecdsa-p256", string(ECDSAP256SHA256):
		return ECDSAP256SHA256, nil
	case "ed25519":
		return Ed25519, nil
	}
	return "", fmt.Errorf("algorithm %q: %w (use p256 or ed25519)", s, ErrAlgorithm)
}

// Key is a public key as a root lists it.
type Key struct {
	ID   string    // hex SHA-256 of SPKI: the key's pin, in hex
	Alg  Algorithm // the only algorithm this key verifies with
	SPKI []byte    // DER SubjectPublicKeyInfo
	pub  crypto.PublicKey
}

// KeyID returns the key id of a DER SubjectPublicKeyInfo: the lower-case
// hex SHA-256 of its bytes (the same 32 bytes as the key's SPKI pin).
func KeyID(spki []byte) string {
	h := sha256.Sum256(spki)
	return hex.EncodeToString(h[:])
}

// NewKey builds a Key from a public key (*ecdsa.PublicKey on P-256 or
// ed25519.PublicKey). The algorithm follows from the key type.
func NewKey(pub crypto.PublicKey) (*Key, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("cannot encode public key: %w", err)
	}
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, err
	}
	return &Key{ID: KeyID(spki), Alg: alg, SPKI: spki, pub: pub}, nil
}

func algorithmOf(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s: %w (only P-256)", k.Curve.Params().Name, ErrAlgorithm)
		}
		return ECDSAP256SHA256, nil
	case ed25519.PublicKey:
		return Ed25519, nil
	}
	return "", fmt.Errorf("key type %T: %w (use ECDSA P-256 or Ed25519)", pub, ErrAlgorithm)
}

// parseKey checks a key as listed in a root: the algorithm is allowed, the
// SPKI parses, is canonical (so one key has exactly one id), its type
// matches the algorithm, and the id is its SHA-256.
func parseKey(id string, alg Algorithm, spki []byte) (*Key, error) {
	if alg != ECDSAP256SHA256 && alg != Ed25519 {
		return nil, fmt.Errorf("key %.16s: algorithm %q: %w", id, alg, ErrAlgorithm)
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, invalid("root", "key %.16s: not a valid SubjectPublicKeyInfo: %v", id, err)
	}
	actual, err := algorithmOf(pub)
	if err != nil {
		return nil, fmt.Errorf("key %.16s: %w", id, err)
	}
	if actual != alg {
		return nil, fmt.Errorf("key %.16s is declared %s but is an %s key: %w", id, alg, actual, ErrAlgorithm)
	}
	canon, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil || string(canon) != string(spki) {
		return nil, invalid("root", "key %.16s: SubjectPublicKeyInfo is not in canonical DER form", id)
	}
	if KeyID(spki) != id {
		return nil, invalid("root", "key id %s is not the SHA-256 of the key (expected %s)", id, KeyID(spki))
	}
	return &Key{ID: id, Alg: alg, SPKI: spki, pub: pub}, nil
}

// Public returns the parsed public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// verify checks sig over msg (the PAE bytes) with the key's own algorithm.
func (k *Key) verify(msg, sig []byte) error {
	m := signedMessage{pae: msg, havePAE: true}
	return k.verifyMessage(&m, sig)
}

// verifyMessage checks sig over the signed message m with the key's own
// algorithm.
func (k *Key) verifyMessage(m *signedMessage, sig []byte) error {
	switch k.Alg {
	case ECDSAP256SHA256:
		pub, ok := k.pub.(*ecdsa.PublicKey)
		if !ok {
			return ErrAlgorithm
		}
		if !ecdsa.VerifyASN1(pub, m.digest(), sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case Ed25519:
		pub, ok := k.pub.(ed25519.PublicKey)
		if !ok {
			return ErrAlgorithm
		}
		if !ed25519.Verify(pub, m.bytes(), sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	}
	return ErrAlgorithm
}

// signedMessage is the message of an envelope, PAE(payloadType, payload),
// in the two forms verifiers use, each made at most once however many
// signatures are checked: the PAE bytes (Ed25519 signs them whole) and
// their SHA-256 (what ECDSA P-256 signs), hashed as a stream without
// copying the payload into a PAE buffer.
type signedMessage struct {
	payloadType string
	payload     []byte

	pae     []byte
	havePAE bool
	sum     [sha256.Size]byte
	haveSum bool
}

// bytes returns the PAE bytes.
func (m *signedMessage) bytes() []byte {
	if !m.havePAE {
		m.pae, m.havePAE = PAE(m.payloadType, m.payload), true
	}
	return m.pae
}

// digest returns the SHA-256 of the PAE bytes.
func (m *signedMessage) digest() []byte {
	if !m.haveSum {
		if m.havePAE {
			m.sum = sha256.Sum256(m.pae)
		} else {
			h := sha256.New()
			var buf [64]byte
			hdr := append(buf[:0], "DSSEv1 "...)
			hdr = strconv.AppendInt(hdr, int64(len(m.payloadType)), 10)
			hdr = append(hdr, ' ')
			h.Write(hdr)
			io.WriteString(h, m.payloadType)
			hdr = append(buf[:0], ' ')
			hdr = strconv.AppendInt(hdr, int64(len(m.payload)), 10)
			hdr = append(hdr, ' ')
			h.Write(hdr)
			h.Write(m.payload)
			h.Sum(m.sum[:0])
		}
		m.haveSum = true
	}
	return m.sum[:]
}

// Signer signs envelopes with a private key.
type Signer struct {
	Key  *Key
	priv crypto.Signer
}

// NewSigner wraps a private key (*ecdsa.PrivateKey on P-256,
// ed25519.PrivateKey, or any crypto.Signer whose public key is one of
// those, such as a hardware token).
func NewSigner(priv crypto.Signer) (*Signer, error) {
	k, err := NewKey(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{Key: k, priv: priv}, nil
}

// Private returns the private key, for writing it out with
// MarshalPrivateKeyPEM.
func (s *Signer) Private() crypto.Signer { return s.priv }

func (s *Signer) sign(rand io.Reader, msg []byte) ([]byte, error) {
	switch s.Key.Alg {
	case ECDSAP256SHA256:
		h := sha256.Sum256(msg)
		return s.priv.Sign(rand, h[:], crypto.SHA256)
	case Ed25519:
		return s.priv.Sign(rand, msg, crypto.Hash(0))
	}
	return nil, ErrAlgorithm
}

// GenerateKey makes a new signing key from the bytes of rand (crypto/rand
// in production; a seeded reader in tests gives the same key every time).
// A nil rand means crypto/rand.
func GenerateKey(alg Algorithm, rand io.Reader) (*Signer, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	switch alg {
	case ECDSAP256SHA256:
		// Not ecdsa.GenerateKey: since Go 1.26 it ignores its reader, and
		// tests need keys that depend only on rand.
		priv, err := ecdsakey.FromReader(elliptic.P256(), rand)
		if err != nil {
			return nil, err
		}
		return NewSigner(priv)
	case Ed25519:
		var seed [ed25519.SeedSize]byte
		if _, err := io.ReadFull(rand, seed[:]); err != nil {
			return nil, err
		}
		return NewSigner(ed25519.NewKeyFromSeed(seed[:]))
	}
	return nil, fmt.Errorf("algorithm %q: %w", alg, ErrAlgorithm)
}

// PEM block types of key files.
const (
	pemPrivate          = "PRIVATE KEY"
	pemEncryptedPrivate = "ENCRYPTED PRIVATE KEY"
	pemPublic           = "PUBLIC KEY"
)

// keyEncryption is how passphrase-protected keys are written: PKCS#8
// PBES2 (RFC 8018) with scrypt (N=2^14, r=8, p=1, 16-byte salt: the
// parameters of "openssl pkcs8 -scrypt", within its memory limit) and
// AES-256-CBC, which OpenSSL reads too ("openssl pkey -in NAME.key").
var keyEncryption = &pkcs8.Opts{
	Cipher:  pkcs8.AES256CBC,
	KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1 << 14, BlockSize: 8, ParallelizationParameter: 1},
}

// ErrPassphrase is returned for an encrypted key without a passphrase or
// with the wrong one.
var ErrPassphrase = errors.New("wrong or missing passphrase")

// MarshalPrivateKeyPEM encodes the signer's private key as PKCS#8 PEM,
// encrypted (PBES2, scrypt, AES-256-CBC) when passphrase is not empty.
func (s *Signer) MarshalPrivateKeyPEM(passphrase []byte) ([]byte, error) {
	der, err := pkcs8.MarshalPrivateKey(s.priv, passphrase, keyEncryption)
	if err != nil {
		return nil, fmt.Errorf("cannot encode private key: %w", err)
	}
	typ := pemPrivate
	if len(passphrase) > 0 {
		typ = pemEncryptedPrivate
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes a key as a PUBLIC KEY PEM block.
func (k *Key) MarshalPublicKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: k.SPKI})
}

// ParsePrivateKeyPEM reads a PKCS#8 private key PEM (encrypted or not).
func ParsePrivateKeyPEM(data, passphrase []byte) (*Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block found (expected PRIVATE KEY or ENCRYPTED PRIVATE KEY)")
	}
	var key any
	var err error
	switch b.Type {
	case pemPrivate:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case pemEncryptedPrivate:
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("the key is encrypted: %w (give --passphrase-file)", ErrPassphrase)
		}
		key, _, err = pkcs8.ParsePrivateKey(b.Bytes, passphrase)
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt key: %w", ErrPassphrase)
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a PKCS#8 private key", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse PKCS#8 private key: %w", err)
	}
	cs, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T: %w", key, ErrAlgorithm)
	}
	return NewSigner(cs)
}

// ParsePublicKeyPEM reads a PUBLIC KEY PEM (or a certificate, whose key is
// used) and returns the Key.
func ParsePublicKeyPEM(data []byte) (*Key, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block found (expected PUBLIC KEY)")
	}
	var pub any
	var err error
	switch b.Type {
	case pemPublic:
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		c, err = x509.ParseCertificate(b.Bytes)
		if err == nil {
			pub = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse public key: %w", err)
	}
	return NewKey(pub)
}
