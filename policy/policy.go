// Package policy decides which pins apply to a host.
//
// A [Policy] binds a host pattern to a set of pins. Patterns are:
//
//	api.example.com      the host itself (with IncludeSubdomains: and every name below it)
//	*.example.com        exactly one extra label (a.example.com, not a.b.example.com, not example.com)
//	**.example.com       example.com and every name below it, at any depth
//	192.0.2.7, 2001:db8::1   an IP literal, matched exactly
//
// When several policies of a [Set] match, the most specific wins: the one
// whose base name has the most labels; for equal bases an exact host beats a
// one-label wildcard, which beats an any-depth rule. Host names are compared
// in their normalised form: lower case, no trailing dot, IDNs as A-labels;
// a host the normalisation refuses is still matched, in its folded form
// ([FoldHost]), against the name patterns, so it is never left unpinned.
// Wildcards and include-subdomains are refused where they would cover a
// public suffix (com, co.uk, github.io; the names under a wildcard rule of
// the list such as *.kawasaki.jp; for any-depth patterns, a suffix anywhere
// below the base, such as s3.amazonaws.com under amazonaws.com), as TrustKit
// refuses them on a suffix; [PublicSuffixError] names the rule. The rules
// and their test table are in docs/pins.md.
package policy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"pinset.dev/pinset/pin"
)

// MinEnforcedPins is how many pins an enforced policy needs: one for the key
// in use and at least one held back, so that a rotation never bricks clients.
const MinEnforcedPins = 2

// MaxPins bounds the pins of one policy.
const MaxPins = 64

// Policy is the pin rule for one host pattern.
type Policy struct {
	Pattern           string    `json:"pattern"`
	Pins              []pin.Pin `json:"pins"`
	IncludeSubdomains bool      `json:"include_subdomains,omitempty"`
	ReportOnly        bool      `json:"report_only,omitempty"`
	ReportURI         string    `json:"report_uri,omitempty"`
}

// Wildcard says how a pattern extends below its base name.
type Wildcard int

// Wildcard kinds.
const (
	Exact     Wildcard = iota // the base name only
	OneLabel                  // *.base: exactly one extra label
	AnyDepth                  // **.base, or base with include-subdomains: base and all below
	Subdomain                 // base with include-subdomains (same reach as AnyDepth)
)

// Pattern is a parsed, normalised host pattern.
type Pattern struct {
	Base     string // normalised host name or canonical IP literal
	Wildcard Wildcard
	IP       bool
}

// String returns the pattern in pinset's spelling.
func (p Pattern) String() string {
	switch p.Wildcard {
	case OneLabel:
		return "*." + p.Base
	case AnyDepth:
		return "**." + p.Base
	default:
		return p.Base
	}
}

// Errors returned by pattern and policy validation.
var (
	// ErrPublicSuffix is wrapped by every *PublicSuffixError.
	ErrPublicSuffix = errors.New("wildcards and include-subdomains are refused where they would cover a public suffix")
	ErrNoPins       = errors.New("a policy needs at least one pin")
	ErrNoBackupPin  = fmt.Errorf("an enforced host needs at least %d pins (the key in use and a backup held back); a single pin bricks clients at the next key rotation", MinEnforcedPins)
)

// NormalizeHost returns a host name in its canonical form: lower case,
// without a trailing dot, IDN labels as A-labels (punycode). An IP literal
// (optionally in brackets) is returned in Go's canonical text form.
func NormalizeHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.TrimSpace(host), ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if h == "" {
		return "", errors.New("empty host name")
	}
	if len(h) > 253*4 {
		return "", errors.New("host name too long")
	}
	if mayBeIP(h) {
		if ip := net.ParseIP(h); ip != nil {
			return ip.String(), nil
		}
	}
	if !utf8.ValidString(h) {
		return "", fmt.Errorf("invalid host name %q: not valid UTF-8", host)
	}
	if strings.Contains(h, "*") {
		return "", fmt.Errorf("invalid host name %q: '*' is only allowed as a leading '*.' or '**.'", host)
	}
	a, plain := plainASCII(h)
	if !plain {
		var err error
		if a, err = idnaProfile.ToASCII(h); err != nil {
			return "", fmt.Errorf("invalid host name %q: %v", host, err)
		}
		a = strings.ToLower(a)
		if again, err := idnaProfile.ToASCII(a); err != nil || again != a {
			// The A-labels must themselves be valid: "xn--" labels that
			// decode to disallowed code points are refused here.
			return "", fmt.Errorf("invalid host name %q: its A-label form %q is not a valid name", host, a)
		}
	}
	if len(a) > 253 {
		return "", fmt.Errorf("invalid host name %q: longer than 253 characters", host)
	}
	var last string
	for rest := a; ; {
		l, after, more := strings.Cut(rest, ".")
		last = l
		if l == "" {
			return "", fmt.Errorf("invalid host name %q: empty label", host)
		}
		if len(l) > 63 {
			return "", fmt.Errorf("invalid host name %q: label longer than 63 characters", host)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("invalid host name %q: character %q is not allowed in a host name", host, c)
			}
		}
		if !more {
			break
		}
		rest = after
	}
	if allDigits(last) {
		// A numeric last label makes an IPv4 address in URL parsers
		// (WHATWG), never a name: refuse rather than guess.
		return "", fmt.Errorf("invalid host name %q: neither a host name (its last label is numeric) nor an IP address", host)
	}
	return a, nil
}

// FoldHost returns the form in which [Set.Match] compares a host that
// NormalizeHost refuses: white space around it, brackets around it and
// trailing dots removed, ASCII letters lower-cased, every other byte kept.
// That is how crypto/x509 compares a name with a certificate's (ASCII only:
// a name with other bytes matches no certificate name, which must be
// ASCII). For a host name NormalizeHost accepts that is ASCII and not an IP
// literal, FoldHost returns the same string (FuzzFoldHost), so the two forms
// never disagree on a name both read.
func FoldHost(host string) string {
	h := strings.TrimSpace(host)
	h = strings.TrimRight(h, ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = strings.TrimRight(h[1:len(h)-1], ".")
	}
	var b []byte
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			if b == nil {
				b = []byte(h)
			}
			b[i] = c + 'a' - 'A'
		}
	}
	if b != nil {
		return string(b)
	}
	return h
}

// allDigits reports whether s is made of ASCII digits only.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// mayBeIP reports whether net.ParseIP could accept s: only a string with a
// ':' (IPv6) or made of digits and dots (IPv4) can be an IP literal. It
// spares host names the failed parse (and its error value).
func mayBeIP(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			return true
		}
		if c != '.' && (c < '0' || c > '9') {
			return strings.IndexByte(s[i:], ':') >= 0
		}
	}
	return true
}

// plainASCII lower-cases h when it is made only of ASCII letters, digits,
// '-', '_' and '.', with no "xn--" label: for such names UTS #46 processing
// is exactly lower-casing, so the IDNA tables (the costliest part of
// matching a host during a handshake) are skipped. The character and length
// checks after it still apply.
func plainASCII(h string) (string, bool) {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	a := strings.ToLower(h)
	if strings.HasPrefix(a, "xn--") || strings.Contains(a, ".xn--") {
		return "", false
	}
	return a, true
}

// idnaProfile is UTS #46 lookup processing (non-transitional, so "ß" stays
// "ß" and becomes "xn--zca"), without the two rules real host names break:
// hyphens in the third and fourth positions (r3---sn-abc.googlevideo.com)
// and underscores. NormalizeHost checks the ASCII result itself.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
)

// ParsePattern parses and normalises a host pattern. includeSubdomains
// extends an exact host to every name below it.
func ParsePattern(s string, includeSubdomains bool) (Pattern, error) {
	var p Pattern
	rest := strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(rest, "**."):
		p.Wildcard, rest = AnyDepth, rest[3:]
	case strings.HasPrefix(rest, "*."):
		p.Wildcard, rest = OneLabel, rest[2:]
	}
	if includeSubdomains {
		if p.Wildcard != Exact {
			return Pattern{}, fmt.Errorf("pattern %q: include-subdomains applies to exact hosts only; write **.base instead", s)
		}
		p.Wildcard = Subdomain
	}
	base, err := NormalizeHost(rest)
	if err != nil {
		return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
	}
	p.Base = base
	p.IP = mayBeIP(base) && net.ParseIP(base) != nil
	if p.IP && p.Wildcard != Exact {
		return Pattern{}, fmt.Errorf("pattern %q: IP literals match exactly; wildcards and include-subdomains do not apply", s)
	}
	if err := checkPublicSuffix(s, p); err != nil {
		return Pattern{}, err
	}
	return p, nil
}

// IsPublicSuffix reports whether a normalised name is a public suffix
// (ICANN or private section of the Public Suffix List), such as "com",
// "co.uk" or "github.io". Unlisted single labels count as suffixes.
func IsPublicSuffix(name string) bool {
	ps, _ := publicsuffix.PublicSuffix(name)
	return ps == name
}

// Reach reports whether the pattern covers a normalised host, and how
// specific the match is (higher is more specific).
func (p Pattern) Reach(host string) (rank int, ok bool) {
	labels := strings.Count(p.Base, ".") + 1
	switch p.Wildcard {
	case Exact:
		if host == p.Base {
			return labels*4 + 3, true
		}
	case OneLabel:
		if rest, found := strings.CutSuffix(host, "."+p.Base); found && rest != "" && !strings.Contains(rest, ".") {
			return labels*4 + 2, true
		}
	case AnyDepth, Subdomain:
		if host == p.Base || strings.HasSuffix(host, "."+p.Base) {
			return labels*4 + 1, true
		}
	}
	return 0, false
}

// Validate checks a policy on its own: the pattern, the pins (none zero,
// none repeated, at most MaxPins) and the report URI. It does not require a
// backup pin; documents that enforce pins call RequireBackup too.
func (p Policy) Validate() error {
	_, err := p.validate()
	return err
}

// validate is Validate that also returns the parsed pattern.
func (p Policy) validate() (Pattern, error) {
	pat, err := ParsePattern(p.Pattern, p.IncludeSubdomains)
	if err != nil {
		return Pattern{}, err
	}
	if len(p.Pins) == 0 {
		return Pattern{}, fmt.Errorf("host %q: %w", p.Pattern, ErrNoPins)
	}
	if len(p.Pins) > MaxPins {
		return Pattern{}, fmt.Errorf("host %q: %d pins is more than the limit of %d", p.Pattern, len(p.Pins), MaxPins)
	}
	// At most MaxPins pins: comparing each with those before it is
	// cheaper than building a map for the usual two or three.
	for i, q := range p.Pins {
		if q.IsZero() {
			return Pattern{}, fmt.Errorf("host %q: a pin of all zero bytes is not a pin", p.Pattern)
		}
		for _, r := range p.Pins[:i] {
			if r == q {
				return Pattern{}, fmt.Errorf("host %q: pin %s is listed twice", p.Pattern, q)
			}
		}
	}
	if p.ReportURI != "" {
		u, err := url.Parse(p.ReportURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Pattern{}, fmt.Errorf("host %q: report URI %q must be an absolute http(s) URL", p.Pattern, p.ReportURI)
		}
	}
	return pat, nil
}

// RequireBackup returns ErrNoBackupPin for an enforced policy with fewer
// than MinEnforcedPins pins.
func (p Policy) RequireBackup() error {
	if !p.ReportOnly && len(p.Pins) < MinEnforcedPins {
		return fmt.Errorf("host %q has %d pin(s): %w", p.Pattern, len(p.Pins), ErrNoBackupPin)
	}
	return nil
}

// Enforced reports whether a failure of this policy refuses the connection.
func (p Policy) Enforced() bool { return !p.ReportOnly }

// Set is an immutable, validated collection of policies with at most one
// policy per pattern. It is safe for concurrent use.
type Set struct {
	policies []Policy
	patterns []Pattern
	exact    map[string]int // normalised exact host -> index
}

// NewSet validates the policies and builds a set. Two policies with the
// same reach (for example "**.example.com" and "example.com" with
// include-subdomains) are an error.
func NewSet(policies []Policy) (*Set, error) {
	s := &Set{
		exact:    make(map[string]int, len(policies)),
		policies: make([]Policy, 0, len(policies)),
		patterns: make([]Pattern, 0, len(policies)),
	}
	n := 0
	for _, p := range policies {
		n += len(p.Pins)
	}
	// One backing array for the copies of all pins (each policy's slice
	// capped at its own length, so an append by a caller cannot spill into
	// the next).
	pins := make([]pin.Pin, 0, n)
	// Exact patterns are told apart by s.exact; the others by seen, made
	// only when there are some.
	var seen map[Pattern]string
	for _, p := range policies {
		pat, err := p.validate()
		if err != nil {
			return nil, err
		}
		if pat.Wildcard == Exact {
			if i, dup := s.exact[pat.Base]; dup {
				return nil, fmt.Errorf("host %q duplicates %q: both cover the same names", p.Pattern, s.policies[i].Pattern)
			}
		} else {
			key := pat
			if key.Wildcard == Subdomain {
				key.Wildcard = AnyDepth
			}
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("host %q duplicates %q: both cover the same names", p.Pattern, prev)
			}
			if seen == nil {
				seen = make(map[Pattern]string)
			}
			seen[key] = p.Pattern
		}
		start := len(pins)
		pins = append(pins, p.Pins...)
		p.Pins = pins[start:len(pins):len(pins)]
		if pat.Wildcard == Exact {
			s.exact[pat.Base] = len(s.policies)
		}
		s.policies = append(s.policies, p)
		s.patterns = append(s.patterns, pat)
	}
	return s, nil
}

// Match returns the most specific policy covering host (a name or IP
// literal, in any case, with or without a trailing dot or brackets).
//
// A host NormalizeHost refuses is not thereby unpinned: crypto/x509 still
// verifies names such as "xn--zz.example.com" (not valid punycode) or one
// with a 64-byte label against a *.example.com certificate. Such a host is
// compared in its folded form ([FoldHost]: ASCII lower case, as crypto/x509
// compares names) with the name patterns, never with IP literals, so that a
// policy whose names it falls under still applies.
func (s *Set) Match(host string) (Policy, bool) {
	if s == nil {
		return Policy{}, false
	}
	h, err := NormalizeHost(host)
	if err != nil {
		return s.matchName(FoldHost(host))
	}
	if i, ok := s.exact[h]; ok {
		return s.policies[i], true
	}
	if net.ParseIP(h) != nil {
		// IP literals match exact IP patterns only: "*.0.2.1" must not
		// cover 192.0.2.1.
		return Policy{}, false
	}
	return s.matchName(h)
}

// matchName returns the most specific name (not IP) pattern covering h.
func (s *Set) matchName(h string) (Policy, bool) {
	if h == "" {
		return Policy{}, false
	}
	best, bestRank := -1, 0
	for i, pat := range s.patterns {
		if pat.IP {
			continue
		}
		if r, ok := pat.Reach(h); ok && r > bestRank {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return Policy{}, false
	}
	return s.policies[best], true
}

// Policies returns a copy of the policies in the order given to NewSet.
func (s *Set) Policies() []Policy {
	if s == nil {
		return nil
	}
	out := make([]Policy, len(s.policies))
	copy(out, s.policies)
	return out
}

// Len returns the number of policies.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.policies)
}
