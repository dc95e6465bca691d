package client

import (
	"errors"
	"fmt"
	"time"
)

// The ETag rule.
//
// An ETag is an unauthenticated claim: anything on the path (a CDN, a
// captive portal, a hostile proxy) can set it, and a client that sends it
// back as If-None-Match lets whoever chose it decide what "not modified"
// means. `ETag: *` makes the pin service answer 304 for ever (RFC 9110
// 13.1.2: `If-None-Match: *` matches any current document), a 40 KB tag
// makes every later request hit a header limit, and a megabyte-long one
// bloats the cache. So the client:
//
//   - keeps an ETag only when [checkETag] accepts it: a quoted strong
//     entity-tag (RFC 9110 8.8.3) of at most [MaxETagBytes] bytes, never
//     `*`, never weak (W/), one header line only;
//   - keeps it only together with a body verified in the same refresh
//     (a manifest trust accepted, or the very bytes of the one in force);
//   - checks a cached ETag again when the cache is loaded (a bad one is
//     dropped, the verified documents are kept);
//   - sends no If-None-Match on the first refresh of a Client, when the
//     last unconditional fetch is [UnconditionalRefreshInterval] old, and
//     when the manifest in force is in the last quarter of its lifetime or
//     expired ([Client.conditional]): whatever ETag a path slipped in, the
//     client sees the service's current manifest at least once a day and
//     on every refresh as expiry nears.
//
// Anything dropped is an [EventDiscarded].

// MaxETagBytes bounds an ETag the client keeps, quotes included. The pin
// service's tags are 18 to 21 bytes.
const MaxETagBytes = 128

// UnconditionalRefreshInterval is the longest a client relies on
// If-None-Match: after it, the next refresh asks for the manifest without
// a condition.
const UnconditionalRefreshInterval = 24 * time.Hour

// ErrBadETag: a response's (or the cache's) ETag is not one the client
// keeps; it is dropped and the next request is unconditional.
var ErrBadETag = errors.New("ETag not kept")

// checkETag decides whether tag may be kept and sent back as
// If-None-Match. It is the one place of that decision.
func checkETag(tag string) error {
	switch {
	case tag == "*":
		return fmt.Errorf("%w: `*` matches every document (RFC 9110 13.1.2)", ErrBadETag)
	case len(tag) > MaxETagBytes:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadETag, len(tag), MaxETagBytes)
	case len(tag) >= 2 && (tag[:2] == "W/" || tag[:2] == "w/"):
		return fmt.Errorf("%w: %.40q is a weak tag", ErrBadETag, tag)
	case len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"':
		return fmt.Errorf("%w: %.40q is not a quoted entity-tag", ErrBadETag, tag)
	}
	// etagc = %x21 / %x23-7E (obs-text is not kept).
	for i := 1; i < len(tag)-1; i++ {
		if c := tag[i]; c < 0x21 || c == '"' || c > 0x7e {
			return fmt.Errorf("%w: byte %#02x at %d is not allowed in an entity-tag", ErrBadETag, c, i)
		}
	}
	return nil
}

// conditional returns the ETag to send as If-None-Match for the manifest
// of s at now, or "" for an unconditional request, with the reason.
// Called under rmu.
func (c *Client) conditional(s *snapshot, now time.Time) (etag, why string) {
	switch {
	case s.etag == "":
		return "", "no ETag"
	case c.lastUnconditional.IsZero():
		return "", "first refresh since start"
	case now.Sub(c.lastUnconditional) >= UnconditionalRefreshInterval:
		return "", "daily unconditional request"
	case s.ts.Stale(now):
		return "", "manifest expired"
	case !s.expires.IsZero() && !s.issuedAt.IsZero() && now.After(s.expires.Add(-s.expires.Sub(s.issuedAt)/4)):
		return "", "manifest in the last quarter of its lifetime"
	}
	return s.etag, ""
}
