// Package platformpin reads a pin the way Android's NSC, iOS NSPinnedDomains
// and TrustKit do: standard base64 of exactly 32 bytes, nothing else.
package platformpin

import (
	"fmt"
	"strings"

	"pinset.dev/pinset/pin"
)

// Parse returns the pin s spells. A value that pin.Parse would accept in
// another spelling (hex, sha256/...) is still an error, because the
// platform would reject it; the error says so.
func Parse(s string) (pin.Pin, error) {
	t := strings.TrimSpace(s)
	var p pin.Pin
	if err := p.UnmarshalText([]byte(t)); err == nil { // bare base64 only
		return p, nil
	}
	p, err := pin.Parse(t)
	if err != nil {
		return pin.Pin{}, err
	}
	return pin.Pin{}, fmt.Errorf("%q is a pin in another spelling; the platform reads only base64 (%s)", t, p.Format(pin.Base64))
}
