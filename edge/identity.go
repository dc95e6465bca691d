package edge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers the edge sets towards the upstream. Every incoming header
// whose name starts with "Pinset-Edge-" (in any case, with "_" read as
// "-", as CGI, WSGI and nginx's underscores_in_headers fold them) is
// removed before routing (stripIdentity), so a client can never supply
// them.
const (
	HeaderDevice = "Pinset-Edge-Device" // the device's identity: its certificate's SPKI SHA-256 pin (base64)
	HeaderUser   = "Pinset-Edge-User"   // the access token's sub
	HeaderAuth   = "Pinset-Edge-Auth"   // "v1 t=<unix seconds> mac=<base64url HMAC-SHA256>"
	identPrefix  = "pinset-edge-"
)

// MinIdentityKey is the shortest identity key the edge accepts (bytes).
const MinIdentityKey = 32

// Errors of VerifyUpstream.
var (
	ErrIdentityMissing = errors.New("edge: no Pinset-Edge-Auth header")
	ErrIdentityFormat  = errors.New("edge: malformed Pinset-Edge-Auth header")
	ErrIdentityMAC     = errors.New("edge: Pinset-Edge-Auth does not match the request")
	ErrIdentityAge     = errors.New("edge: Pinset-Edge-Auth is too old or from the future")
)

// stripIdentity removes every header a client might use to pose as the
// edge: any name that, lower-cased with "_" read as "-", starts with
// "pinset-edge-". It returns how many it removed.
func stripIdentity(h http.Header) int {
	n := 0
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
			n++
		}
	}
	return n
}

// isIdentityHeader says whether name, lower-cased with "_" read as "-",
// starts with "pinset-edge-" (without allocating: it runs on every header
// of every request).
func isIdentityHeader(name string) bool {
	if len(name) < len(identPrefix) {
		return false
	}
	for i := 0; i < len(identPrefix); i++ {
		c := name[i]
		if c == '_' {
			c = '-'
		} else if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != identPrefix[i] {
			return false
		}
	}
	return true
}

// identityMAC is the MAC of the identity headers of one request: the
// version, the time, the device, the user, the method and the request URI
// (path and query as sent upstream), each on its own line.
func identityMAC(key []byte, t int64, device, user, method, uri string) string {
	b := make([]byte, 0, 128+len(device)+len(user)+len(uri))
	b = strconv.AppendInt(append(b, "pinset-edge v1\n"...), t, 10)
	for _, f := range []string{device, user, method, uri} {
		b = append(append(b, '\n'), f...)
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b[:0]))
}

// signIdentity sets the identity headers on the request going upstream.
// device or user may be empty (a route without mutual TLS or tokens); the
// Auth header is set either way, so the upstream knows the request came
// through the edge.
func signIdentity(h http.Header, key []byte, now time.Time, device, user, method, uri string) {
	t := now.Unix()
	if device != "" {
		h.Set(HeaderDevice, device)
	}
	if user != "" {
		h.Set(HeaderUser, user)
	}
	h.Set(HeaderAuth, "v1 t="+strconv.FormatInt(t, 10)+" mac="+identityMAC(key, t, device, user, method, uri))
}

// Identity is what the edge vouches for about a request.
type Identity struct {
	Device string // empty when the route has no mutual TLS
	User   string // empty when the route takes no token
	Time   time.Time
}

// VerifyUpstream is the check an upstream written in Go runs on a request
// from the edge (docs/edge.md gives the format for other languages): the
// MAC over the identity headers, method and request URI under key, made
// within maxAge of now (either side, for clock skew). It is the one place
// that decides whether an upstream trusts Pinset-Edge-Device and
// Pinset-Edge-User.
func VerifyUpstream(r *http.Request, key []byte, now time.Time, maxAge time.Duration) (Identity, error) {
	v := r.Header.Values(HeaderAuth)
	if len(v) == 0 {
		return Identity{}, ErrIdentityMissing
	}
	if len(v) != 1 || len(r.Header.Values(HeaderDevice)) > 1 || len(r.Header.Values(HeaderUser)) > 1 {
		return Identity{}, ErrIdentityFormat
	}
	var ts, mac string
	f := strings.Split(v[0], " ")
	if len(f) != 3 || f[0] != "v1" || !strings.HasPrefix(f[1], "t=") || !strings.HasPrefix(f[2], "mac=") {
		return Identity{}, ErrIdentityFormat
	}
	ts, mac = f[1][2:], f[2][4:]
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(t, 10) != ts {
		return Identity{}, ErrIdentityFormat
	}
	id := Identity{Device: r.Header.Get(HeaderDevice), User: r.Header.Get(HeaderUser), Time: time.Unix(t, 0)}
	want := identityMAC(key, t, id.Device, id.User, r.Method, r.URL.RequestURI())
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return Identity{}, ErrIdentityMAC
	}
	if d := now.Sub(id.Time); d > maxAge || d < -maxAge {
		return Identity{}, fmt.Errorf("%w: signed %s ago, max %s", ErrIdentityAge, d.Round(time.Second), maxAge)
	}
	return id, nil
}
