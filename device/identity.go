package device

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"pinset.dev/pinset/trust"
)

// Scheme is the URI scheme of device identities.
const Scheme = "pinset"

// MaxIDLen bounds a device id.
const MaxIDLen = 64

// Identity names a device of an app. In a certificate it is the one URI
// SAN, pinset://APP/device/ID (in the spirit of SPIFFE IDs), and the
// subject's CN (ID) and OU (APP), for people reading logs.
type Identity struct {
	App string `json:"app"`
	ID  string `json:"device_id"`
}

// URI returns pinset://APP/device/ID.
func (i Identity) URI() *url.URL {
	return &url.URL{Scheme: Scheme, Host: i.App, Path: "/device/" + i.ID}
}

func (i Identity) String() string { return i.URI().String() }

// ValidID reports whether s is a device id: 1 to 64 of a-z A-Z 0-9 . _ -,
// not starting with a dot (it appears in URL paths and in the URI SAN).
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IdentityOf returns the identity a device certificate names: exactly one
// URI SAN, pinset://APP/device/ID with a valid app id and device id, and
// nothing else in it (no user, port, query or fragment).
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if len(cert.URIs) != 1 {
		return Identity{}, fmt.Errorf("%w: %d URI names, want exactly one pinset://APP/device/ID", ErrNotDeviceCert, len(cert.URIs))
	}
	u := cert.URIs[0]
	id, ok := strings.CutPrefix(u.Path, "/device/")
	if !ok || u.Scheme != Scheme || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		!trust.ValidAppID(u.Host) || !ValidID(id) {
		return Identity{}, fmt.Errorf("%w: URI name is not pinset://APP/device/ID", ErrNotDeviceCert)
	}
	return Identity{App: u.Host, ID: id}, nil
}
