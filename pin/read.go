package pin

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxFileSize caps how much of one input ReadItems reads. Real certificate
// bundles are a few hundred kilobytes at most.
const MaxFileSize = 4 << 20

// Kind says what an Item was computed from and, for certificates in a chain,
// where it sits.
type Kind string

// Kinds of items.
const (
	KindLeaf         Kind = "leaf"
	KindIntermediate Kind = "intermediate"
	KindRoot         Kind = "root"
	KindCertificate  Kind = "certificate" // a lone certificate read from a file
	KindKey          Kind = "key"
	KindCSR          Kind = "csr"
)

// Item is one pinnable thing: a certificate, a key or a CSR, with its pin.
type Item struct {
	Pin      Pin
	Kind     Kind
	Subject  string    // certificate or CSR subject; empty for bare keys
	Issuer   string    // certificate issuer
	NotAfter time.Time // zero unless a certificate
	KeyType  string    // e.g. "RSA-2048", "ECDSA-P256", "Ed25519"
	Cert     *x509.Certificate
}

// FromChain returns one item per certificate, leaf first, with positions
// (leaf, intermediate, root). A single self-signed certificate is a root;
// a single other certificate is a leaf.
func FromChain(chain []*x509.Certificate) []Item {
	items := make([]Item, 0, len(chain))
	for i, c := range chain {
		k := KindIntermediate
		switch {
		case i == 0 && (len(chain) > 1 || !selfSigned(c)):
			k = KindLeaf
		case i == len(chain)-1 && selfSigned(c):
			k = KindRoot
		}
		items = append(items, certItem(c, k))
	}
	return items
}

// selfSigned reports whether c is a self-signed CA certificate. It only
// labels certificates for people: old roots signed with SHA-1, whose
// signatures Go no longer checks, still count.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	err := c.CheckSignatureFrom(c)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

func certItem(c *x509.Certificate, k Kind) Item {
	return Item{
		Pin: FromCertificate(c), Kind: k, Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		NotAfter: c.NotAfter, KeyType: KeyType(c.PublicKey), Cert: c,
	}
}

// KeyType names a public key's algorithm and size, e.g. "RSA-2048",
// "ECDSA-P-256" or "Ed25519".
func KeyType(pub crypto.PublicKey) string { return keyTypeName(pub) }

// ReadError names the input and the block that could not be read.
type ReadError struct {
	Name  string // file name, or "-" for standard input
	Block int    // 1-based PEM block number; 0 when not applicable
	Err   error
}

func (e *ReadError) Error() string {
	if e.Block > 0 {
		return fmt.Sprintf("%s: PEM block %d: %v", e.Name, e.Block, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// ErrTooLarge is wrapped when an input exceeds MaxFileSize.
var ErrTooLarge = fmt.Errorf("input is larger than %d bytes", MaxFileSize)

// ReadItems reads PEM (one or more blocks of CERTIFICATE, PUBLIC KEY, RSA
// PUBLIC KEY, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY, CERTIFICATE
// REQUEST) or DER (a certificate, a chain of certificates, an SPKI, a PKCS#8,
// PKCS#1 or SEC 1 private key, or a CSR) and returns an item for each key,
// certificate or CSR, in input order. Consecutive certificates each issued
// by the next are positioned as a chain (leaf, intermediate, root); others
// are labelled on their own (root or certificate). At most MaxFileSize
// bytes are read.
func ReadItems(r io.Reader, name string) ([]Item, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &ReadError{Name: name, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &ReadError{Name: name, Err: ErrTooLarge}
	}
	return ParseItems(data, name)
}

// ParseItems is ReadItems over bytes already in memory.
func ParseItems(data []byte, name string) ([]Item, error) {
	if len(data) > MaxFileSize {
		return nil, &ReadError{Name: name, Err: ErrTooLarge}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return parsePEM(data, name)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ReadError{Name: name, Err: errors.New("empty input: expected PEM or DER")}
	}
	items, err := parseDER(data)
	if err != nil {
		return nil, &ReadError{Name: name, Err: err}
	}
	return items, nil
}

func parsePEM(data []byte, name string) ([]Item, error) {
	var items []Item
	var certs []*x509.Certificate
	flush := func() {
		items = append(items, positionCerts(certs)...)
		certs = nil
	}
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n == 1 || bytes.Contains(rest, []byte("-----BEGIN")) {
				return nil, &ReadError{Name: name, Block: n, Err: errors.New("malformed or truncated PEM (no matching END line, or bad base64)")}
			}
			break
		}
		if block.Type == "CERTIFICATE" || block.Type == "TRUSTED CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, &ReadError{Name: name, Block: n, Err: fmt.Errorf("CERTIFICATE: %w", err)}
			}
			certs = append(certs, c)
			continue
		}
		if block.Type == "EC PARAMETERS" {
			// openssl ecparam -genkey writes the curve before the key.
			continue
		}
		flush()
		it, err := parseBlock(block.Type, block.Bytes)
		if err != nil {
			return nil, &ReadError{Name: name, Block: n, Err: err}
		}
		items = append(items, it)
	}
	flush()
	if len(items) == 0 {
		return nil, &ReadError{Name: name, Err: errors.New("no certificate, key or CSR found")}
	}
	return items, nil
}

// positionCerts labels certificates read from a file. Consecutive
// certificates each issued by the next form a chain (leaf, intermediate,
// root); otherwise, as in a bundle of CA certificates, each is labelled on
// its own: root when it is a self-signed CA, certificate otherwise.
func positionCerts(certs []*x509.Certificate) []Item {
	chained := len(certs) > 1
	for i := 0; i+1 < len(certs) && chained; i++ {
		chained = bytes.Equal(certs[i].RawIssuer, certs[i+1].RawSubject)
	}
	if chained {
		return FromChain(certs)
	}
	items := make([]Item, len(certs))
	for i, c := range certs {
		k := KindCertificate
		if selfSigned(c) {
			k = KindRoot
		}
		items[i] = certItem(c, k)
	}
	return items
}

// keyBlocks are the key encodings read, by PEM block type, in the order
// parseDER tries them on bare DER.
var keyBlocks = []keyBlock{
	{"PUBLIC KEY", false, func(der []byte) (any, error) { return x509.ParsePKIXPublicKey(der) }},
	{"PRIVATE KEY", true, func(der []byte) (any, error) { return x509.ParsePKCS8PrivateKey(der) }},
	{"EC PRIVATE KEY", true, func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) }},
	{"RSA PRIVATE KEY", true, func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) }},
	{"RSA PUBLIC KEY", false, func(der []byte) (any, error) { return x509.ParsePKCS1PublicKey(der) }},
}

// keyBlock is one key encoding: its PEM type, whether it holds a private
// key, and its x509 parser.
type keyBlock struct {
	typ     string
	private bool
	parse   func(der []byte) (any, error)
}

// item pins the parsed key k (a private key by its public key).
func (kb keyBlock) item(k any) (Item, error) {
	if kb.private {
		return privItem(k)
	}
	return keyItem(k)
}

func parseBlock(typ string, der []byte) (Item, error) {
	for _, kb := range keyBlocks {
		if kb.typ == typ {
			k, err := kb.parse(der)
			if err != nil {
				return Item{}, fmt.Errorf("%s: %w", typ, err)
			}
			return kb.item(k)
		}
	}
	switch typ {
	case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return Item{}, fmt.Errorf("CERTIFICATE REQUEST: %w", err)
		}
		return csrItem(csr), nil
	case "ENCRYPTED PRIVATE KEY":
		return Item{}, errors.New("ENCRYPTED PRIVATE KEY: encrypted keys are not read; pin the certificate or the public key instead")
	}
	return Item{}, fmt.Errorf("unsupported PEM block type %q (expected CERTIFICATE, PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY or CERTIFICATE REQUEST)", typ)
}

func csrItem(csr *x509.CertificateRequest) Item {
	return Item{Pin: FromSPKI(csr.RawSubjectPublicKeyInfo), Kind: KindCSR, Subject: csr.Subject.String(), KeyType: KeyType(csr.PublicKey)}
}

func keyItem(pub crypto.PublicKey) (Item, error) {
	p, err := FromPublicKey(pub)
	if err != nil {
		return Item{}, err
	}
	return Item{Pin: p, Kind: KindKey, KeyType: KeyType(pub)}, nil
}

func privItem(k any) (Item, error) {
	s, ok := k.(crypto.Signer)
	if !ok {
		return Item{}, fmt.Errorf("private key of type %T has no public key", k)
	}
	return keyItem(s.Public())
}

// parseDER tries, in order: certificates (one or a concatenated chain), SPKI,
// PKCS#8, SEC 1, PKCS#1 private and public keys, and a CSR.
func parseDER(der []byte) ([]Item, error) {
	if certs, err := x509.ParseCertificates(der); err == nil && len(certs) > 0 {
		return positionCerts(certs), nil
	}
	for _, kb := range keyBlocks {
		if k, err := kb.parse(der); err == nil {
			it, err := kb.item(k)
			return []Item{it}, err
		}
	}
	if csr, err := x509.ParseCertificateRequest(der); err == nil {
		return []Item{csrItem(csr)}, nil
	}
	return nil, errors.New("not PEM, and not a DER certificate, public key, private key or CSR")
}

// Describe returns a short description used in messages.
func (it Item) Describe() string {
	if it.Subject != "" {
		return strings.TrimSpace(string(it.Kind) + " " + it.Subject)
	}
	return string(it.Kind)
}
