// Package pin computes, parses and prints SPKI SHA-256 pins.
//
// A pin is the SHA-256 digest of the DER encoding of a certificate's
// SubjectPublicKeyInfo. It survives certificate renewal with the same key and
// changes when the key changes. The platforms spell the same 32 bytes in
// several ways; [Parse] reads them all and [Pin.Format] writes them all:
//
//	base64       bare standard base64 (Android NSC, TrustKit, iOS SPKI-SHA256-BASE64)
//	okhttp       sha256/<base64> (OkHttp CertificatePinner)
//	hpkp         pin-sha256="<base64>" (RFC 7469, TrustKit reports)
//	hex          lower-case hex, 64 digits
//	hex-colons   hex pairs separated by colons (openssl -c style)
//
// Pins are computed with [FromCertificate], [FromPublicKey] and [FromSPKI];
// files of PEM or DER certificates, keys and CSRs are read with [ReadItems].
package pin

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Size is the length of a pin in bytes.
const Size = sha256.Size

// Pin is a SHA-256 digest of a DER-encoded SubjectPublicKeyInfo.
type Pin [Size]byte

// FromSPKI returns the pin of DER-encoded SubjectPublicKeyInfo bytes.
func FromSPKI(spkiDER []byte) Pin { return Pin(sha256.Sum256(spkiDER)) }

// FromCertificate returns the pin of a certificate's public key.
func FromCertificate(c *x509.Certificate) Pin { return FromSPKI(c.RawSubjectPublicKeyInfo) }

// FromChains returns the pins of every certificate of chains (verified
// chains, leaf first), each once, in the order first met.
func FromChains(chains [][]*x509.Certificate) []Pin {
	var out []Pin
	for _, ch := range chains {
		for _, c := range ch {
			if p := FromCertificate(c); !Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// FromPublicKey returns the pin of a public key (*rsa.PublicKey, *ecdsa.PublicKey,
// ed25519.PublicKey or any type x509.MarshalPKIXPublicKey accepts).
func FromPublicKey(pub crypto.PublicKey) (Pin, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Pin{}, fmt.Errorf("cannot encode public key of type %T: %w", pub, err)
	}
	return FromSPKI(der), nil
}

// Format names a spelling of a pin.
type Format string

// The spellings pinset reads and writes.
const (
	Base64    Format = "base64"
	OkHttp    Format = "okhttp"
	HPKP      Format = "hpkp"
	Hex       Format = "hex"
	HexColons Format = "hex-colons"
)

// Formats lists every spelling, in the order documentation shows them.
var Formats = []Format{Base64, OkHttp, HPKP, Hex, HexColons}

// String returns the pin as bare standard base64, the most common spelling.
func (p Pin) String() string { return base64.StdEncoding.EncodeToString(p[:]) }

// Format returns the pin in the given spelling. An unknown format yields the
// bare base64 spelling.
func (p Pin) Format(f Format) string {
	switch f {
	case OkHttp:
		return "sha256/" + p.String()
	case HPKP:
		return `pin-sha256="` + p.String() + `"`
	case Hex:
		return hex.EncodeToString(p[:])
	case HexColons:
		h := hex.EncodeToString(p[:])
		var b strings.Builder
		for i := 0; i < len(h); i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(h[i : i+2])
		}
		return b.String()
	default:
		return p.String()
	}
}

// IsZero reports whether p is the zero value (never a real pin).
func (p Pin) IsZero() bool { return p == Pin{} }

// MarshalText encodes the pin as bare base64.
func (p Pin) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts only the bare base64 spelling, so that documents that
// carry pins have exactly one way to write each one. It is [ParseBase64]
// over bytes, and does not allocate on success either.
func (p *Pin) UnmarshalText(b []byte) error {
	q, ok := decodeBase64(b)
	if !ok {
		return base64Error(string(b))
	}
	*p = q
	return nil
}

// Base64Len is the length of a pin in its canonical spelling: standard
// base64 of 32 bytes, with its one '=' of padding.
const Base64Len = (Size + 2) / 3 * 4

// strictStd is built once: Strict returns a new *Encoding.
var strictStd = base64.StdEncoding.Strict()

// ParseBase64 is the one strict reader of a pin's canonical spelling, the
// one signed documents, platform configurations (Android NSC, iOS
// NSPinnedDomains, TrustKit) and [Pin.UnmarshalText] take: exactly
// Base64Len characters of padded standard base64 that decode to exactly
// Size bytes, nothing around them. It does not allocate on success. The
// error of a value [Parse] would read (another spelling, white space
// around it) shows the base64 one.
func ParseBase64(s string) (Pin, error) {
	if p, ok := decodeBase64(s); ok {
		return p, nil
	}
	return Pin{}, base64Error(s)
}

// decodeBase64 is the strict decision, without an error to build.
func decodeBase64[T ~string | ~[]byte](s T) (Pin, bool) {
	if len(s) != Base64Len {
		return Pin{}, false
	}
	var enc [Base64Len]byte
	copy(enc[:], s)
	var raw [Size + 1]byte // DecodedLen(Base64Len): Decode needs room for all it decodes
	n, err := strictStd.Decode(raw[:], enc[:])
	if err != nil || n != Size {
		return Pin{}, false
	}
	return Pin(raw[:Size]), true
}

// base64Error says why s, refused by decodeBase64, is not a pin in bare
// base64, naming the spelling when it is another one Parse reads.
func base64Error(s string) error {
	q, err := Parse(s)
	if err != nil {
		return err
	}
	return &ParseError{s, "only bare standard base64 is read here, nothing around it: write " + q.Format(Base64)}
}

// ErrSHA1 is returned for sha1/ pins: SHA-1 pins are not collision resistant
// and no platform pinset targets needs them.
var ErrSHA1 = errors.New("sha1/ pins are refused: SHA-1 is broken for this use; compute a SHA-256 pin with 'pinset pin' and write it as sha256/...")

// ErrPlaceholder is the reason of a [ParseError] for a value that stands
// for a pin in an example ("LIVE_PIN", "PIN1", "$NEXT", "<pin>",
// "AAAA...="), never one computed: test it with errors.Is.
var ErrPlaceholder = errors.New("looks like a placeholder: compute a pin with 'pinset pin FILE' (a certificate, key or CSR)")

// placeholderPin matches what examples write where a pin goes: names in
// capitals, digits and underscores (LIVE_PIN, PIN1, BACKUP_PIN), shell
// variables left unexpanded ($LIVE, ${NEXT}), <angle brackets> and
// elisions (AAAA...=). None of them is a pin in any spelling: base64 of
// 32 bytes ends in '=', and strings of hex digits alone go to the hex
// rules first.
var placeholderPin = regexp.MustCompile(`^(?:[A-Z][A-Z0-9_]*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^<>]*>|.*\.\.\..*)$`)

// ParseError describes a string that is not a pin.
type ParseError struct {
	Input  string
	Reason string
}

// Is makes errors.Is(err, ErrPlaceholder) true for a placeholder.
func (e *ParseError) Is(target error) bool {
	return target == ErrPlaceholder && e.Reason == ErrPlaceholder.Error()
}

func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > 80 {
		in = in[:77] + "..."
	}
	return fmt.Sprintf("invalid pin %q: %s", in, e.Reason)
}

// maxPinLen bounds the input to Parse; the longest real spelling (hex with
// colons) is 95 characters.
const maxPinLen = 128

// Parse reads a pin in any spelling pinset knows: bare base64, sha256/BASE64,
// pin-sha256="BASE64", hex or hex with colons. Leading and trailing white
// space is ignored. Anything that does not decode to exactly 32 bytes is an
// error that says why.
func Parse(s string) (Pin, error) {
	orig := s
	s = strings.TrimSpace(s)
	if len(s) > maxPinLen {
		return Pin{}, &ParseError{orig, fmt.Sprintf("%d characters is longer than any pin spelling", len(s))}
	}
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return Pin{}, &ParseError{orig, "empty"}
	case strings.HasPrefix(lower, "sha1/"), strings.HasPrefix(lower, "pin-sha1="):
		return Pin{}, ErrSHA1
	case strings.HasPrefix(lower, "sha256/"):
		p, err := parseBase64(s[len("sha256/"):])
		return wrap(orig, p, err)
	case strings.HasPrefix(lower, "pin-sha256="):
		v := s[len("pin-sha256="):]
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return Pin{}, &ParseError{orig, `pin-sha256= must be followed by a quoted value, as in pin-sha256="BASE64"`}
		}
		p, err := parseBase64(v[1 : len(v)-1])
		return wrap(orig, p, err)
	case strings.Contains(s, ":"):
		p, err := parseHex(strings.ReplaceAll(s, ":", ""), true, s)
		return wrap(orig, p, err)
	case len(s) == 2*Size, isHex(s):
		// 64 characters can only be hex (base64 of 32 bytes is 44), and a
		// string of hex digits only is never padded base64 (no '=').
		p, err := parseHex(s, false, s)
		return wrap(orig, p, err)
	default:
		p, err := parseBase64(s)
		return wrap(orig, p, err)
	}
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Pin {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func wrap(orig string, p Pin, err error) (Pin, error) {
	if err == nil {
		return p, nil
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Input = orig
		return Pin{}, pe
	}
	return Pin{}, &ParseError{orig, err.Error()}
}

func parseBase64(s string) (Pin, error) {
	if p, ok := decodeBase64(s); ok {
		return p, nil
	}
	if placeholderPin.MatchString(s) {
		return Pin{}, &ParseError{s, ErrPlaceholder.Error()}
	}
	b, err := strictStd.DecodeString(s)
	if err != nil {
		if _, uerr := base64.URLEncoding.Strict().DecodeString(s); uerr == nil {
			return Pin{}, &ParseError{s, "URL-safe base64 (with - or _) is not a pin spelling; use standard base64 (+ and /)"}
		}
		if _, rerr := base64.RawStdEncoding.Strict().DecodeString(s); rerr == nil {
			return Pin{}, &ParseError{s, "base64 without '=' padding; a SHA-256 pin is 44 characters ending in '='"}
		}
		return Pin{}, &ParseError{s, "not valid standard base64"}
	}
	return Pin{}, &ParseError{s, fmt.Sprintf("decodes to %d bytes; a SHA-256 pin is exactly %d", len(b), Size)}
}

func parseHex(h string, colons bool, orig string) (Pin, error) {
	if colons {
		parts := strings.Split(orig, ":")
		for _, part := range parts {
			if len(part) != 2 {
				return Pin{}, &ParseError{orig, "hex with colons must be pairs of hex digits separated by ':'"}
			}
		}
	}
	for i := 0; i < len(h); i++ {
		if !isHex(h[i : i+1]) {
			return Pin{}, &ParseError{orig, fmt.Sprintf("not valid hex: %q is not a hex digit", h[i])}
		}
	}
	if colons && len(h) != 2*Size {
		return Pin{}, &ParseError{orig, fmt.Sprintf("%d hex pairs; a SHA-256 pin is exactly %d", len(h)/2, Size)}
	}
	if len(h) != 2*Size {
		hint := ""
		if len(h) == 40 {
			hint = " (40 hex digits is a SHA-1 digest, which pinset refuses)"
		}
		return Pin{}, &ParseError{orig, fmt.Sprintf("%d hex digits; a SHA-256 pin is exactly %d%s", len(h), 2*Size, hint)}
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return Pin{}, &ParseError{orig, "not valid hex"}
	}
	return Pin(b), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Contains reports whether p is one of pins.
func Contains(pins []Pin, p Pin) bool {
	for _, q := range pins {
		if q == p {
			return true
		}
	}
	return false
}
