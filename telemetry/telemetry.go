// Package telemetry defines the one header a pinset SDK sends with each
// manifest fetch so that the pin service can count which manifest the
// installed apps hold (adoption), and the strict parser the service reads
// it with. The format is specified in docs/client.md ("Adoption
// telemetry") and docs/api.md.
//
//	Pinset-Telemetry: v=1;id=3f9c0a...e1;root=2;manifest=7;sdk=pinset-go/1
//
// The header carries no user data: id is 16 random bytes an install draws
// for itself and replaces every [RotateAfter] (so that installs cannot be
// followed for longer), root and manifest are the versions the install
// enforces, sdk names the SDK. [Parse] is the only reader of the header:
// the server calls it and nothing else.
package telemetry

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Header is the request header's name.
const Header = "Pinset-Telemetry"

// MaxLen caps the header value; longer values are refused unread.
const MaxLen = 128

// IDLen is the length of an install id: 16 random bytes in lowercase hex.
const IDLen = 32

// MaxSDKLen caps the sdk field.
const MaxSDKLen = 32

// MaxVersion is the largest root or manifest version (trust.MaxVersion).
const MaxVersion = 1<<53 - 1

// RotateAfter is how long an SDK keeps one install id.
const RotateAfter = 30 * 24 * time.Hour

// ErrInvalid is wrapped by every Parse error.
var ErrInvalid = errors.New("invalid " + Header + " header")

// Info is one parsed header.
type Info struct {
	ID              string // IDLen lowercase hex characters
	RootVersion     uint64 // 1..MaxVersion
	ManifestVersion uint64 // 0..MaxVersion; 0: none yet (an SDK started without a bundled manifest)
	SDK             string // 1..MaxSDKLen of A-Z a-z 0-9 . _ / + -
}

// String formats i as a header value. It does not validate i; a value
// Parse would refuse is refused by the service, not by the sender.
func (i Info) String() string {
	return "v=1;id=" + i.ID + ";root=" + strconv.FormatUint(i.RootVersion, 10) +
		";manifest=" + strconv.FormatUint(i.ManifestVersion, 10) + ";sdk=" + i.SDK
}

// Parse reads the header's values (every line the request carried) and
// returns the Info, or an error wrapping ErrInvalid. It is strict: exactly
// one line, at most MaxLen bytes, the five fields in the order v, id,
// root, manifest, sdk, each once, no spaces, no other fields, numbers in
// decimal without leading zeros. A request whose header does not parse is
// counted as a request without one (and the refusal is counted too).
func Parse(lines []string) (Info, error) {
	if len(lines) != 1 {
		return Info{}, fmt.Errorf("%w: %d lines, want 1", ErrInvalid, len(lines))
	}
	v := lines[0]
	if len(v) > MaxLen {
		return Info{}, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(v), MaxLen)
	}
	var f [5]string
	keys := [5]string{"v", "id", "root", "manifest", "sdk"}
	rest := v
	for i, k := range keys {
		var part string
		var found bool
		part, rest, found = strings.Cut(rest, ";")
		if found != (i < len(keys)-1) {
			return Info{}, fmt.Errorf("%w: want the fields v, id, root, manifest, sdk in that order", ErrInvalid)
		}
		val, ok := strings.CutPrefix(part, k+"=")
		if !ok {
			return Info{}, fmt.Errorf("%w: field %d is not %s=", ErrInvalid, i+1, k)
		}
		f[i] = val
	}
	if f[0] != "1" {
		return Info{}, fmt.Errorf("%w: unknown version %q", ErrInvalid, f[0])
	}
	if !ValidID(f[1]) {
		return Info{}, fmt.Errorf("%w: id must be %d lowercase hex characters", ErrInvalid, IDLen)
	}
	root, err := parseVersion(f[2])
	if err == nil && root == 0 {
		err = errors.New("0: every install holds a root")
	}
	if err != nil {
		return Info{}, fmt.Errorf("%w: root: %v", ErrInvalid, err)
	}
	man, err := parseVersion(f[3])
	if err != nil {
		return Info{}, fmt.Errorf("%w: manifest: %v", ErrInvalid, err)
	}
	if !validSDK(f[4]) {
		return Info{}, fmt.Errorf("%w: sdk must be 1 to %d of A-Z a-z 0-9 . _ / + -", ErrInvalid, MaxSDKLen)
	}
	return Info{ID: f[1], RootVersion: root, ManifestVersion: man, SDK: f[4]}, nil
}

func parseVersion(s string) (uint64, error) {
	if s == "" || len(s) > 16 || s[0] == '0' && len(s) > 1 {
		return 0, errors.New("want 1 to 16 digits without a leading zero")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxVersion {
		return 0, fmt.Errorf("above %d", uint64(MaxVersion))
	}
	return n, nil
}

// ValidID reports whether s is an install id: IDLen lowercase hex digits.
func ValidID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validSDK(s string) bool {
	if s == "" || len(s) > MaxSDKLen {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '/', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewID draws a new install id from r (crypto/rand in production).
func NewID(r io.Reader) (string, error) {
	var b [IDLen / 2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("install id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
