package policy

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/net/publicsuffix"
)

//go:generate go test -run TestPSLBelowTable -update

// SuffixRule names the rule of the public-suffix guard that refused a
// pattern. "Public suffix" means a name the Public Suffix List, as compiled
// into golang.org/x/net/publicsuffix (ICANN and private sections, wildcard
// and exception rules, and the default rule that makes an unlisted
// top-level label a suffix), calls one.
type SuffixRule int

// The rules of the guard, checked in this order.
const (
	// SuffixBase: the base is itself a public suffix (com, co.uk,
	// github.io, an unlisted single label such as test). Applies to *.,
	// **. and include-subdomains.
	SuffixBase SuffixRule = iota + 1
	// SuffixNextLevel: the names one label below the base are public
	// suffixes: the list has a wildcard rule *.base (*.kawasaki.jp,
	// *.compute.amazonaws.com). Applies to *., **. and include-subdomains.
	SuffixNextLevel
	// SuffixBelow: some name below the base, at any depth, is a public
	// suffix: the list has a rule under the base (s3.amazonaws.com under
	// amazonaws.com). Applies to **. and include-subdomains, which reach
	// every depth and so the unrelated sites registered under that
	// suffix. A *. pattern is not refused for it: it covers such a name
	// only as one host, not the sites below it.
	SuffixBelow
)

// String returns the rule's name as error messages and docs spell it.
func (r SuffixRule) String() string {
	switch r {
	case SuffixBase:
		return "base"
	case SuffixNextLevel:
		return "next-level"
	case SuffixBelow:
		return "below"
	}
	return fmt.Sprintf("SuffixRule(%d)", int(r))
}

// PublicSuffixError is the refusal of a pattern by the public-suffix guard.
// errors.Is(err, ErrPublicSuffix) holds for it.
type PublicSuffixError struct {
	Pattern string     // the pattern as written
	Base    string     // its normalised base name
	Rule    SuffixRule // the rule that refused it
	// Suffix is the public suffix the pattern would cover: the base
	// (SuffixBase), "*.base" (SuffixNextLevel), or the rule of the list
	// below the base (SuffixBelow; "*.name" for a wildcard rule).
	Suffix string
	// Section is where the list has Suffix: "ICANN", "private", or
	// "default" (an unlisted top-level label).
	Section string
}

// Error names the pattern, the guard rule, and the list's rule and section.
func (e *PublicSuffixError) Error() string {
	src := fmt.Sprintf("the Public Suffix List's rule %q (%s section)", e.Suffix, e.Section)
	var why string
	switch e.Rule {
	case SuffixBase:
		// The base may be a suffix by a wildcard rule above it
		// (x.kawasaki.jp by *.kawasaki.jp): name no rule of the list.
		src = fmt.Sprintf("the Public Suffix List (%s section)", e.Section)
		if e.Section == "default" {
			src = "the Public Suffix List's default rule \"*\" (an unlisted top-level label)"
		}
		why = fmt.Sprintf("%s makes %q itself a public suffix", src, e.Base)
	case SuffixNextLevel:
		why = fmt.Sprintf("%s makes every name one label below %q a public suffix", src, e.Base)
	case SuffixBelow:
		why = fmt.Sprintf("%s makes a name below %q a public suffix, and the pattern reaches every depth", src, e.Base)
	}
	return fmt.Sprintf("pattern %q: %v (guard rule %q): %s; the pattern would cover unrelated sites", e.Pattern, ErrPublicSuffix, e.Rule, why)
}

// Unwrap makes errors.Is(err, ErrPublicSuffix) true.
func (e *PublicSuffixError) Unwrap() error { return ErrPublicSuffix }

// suffixProbe is a label no rule of the list can hold ('%' is outside the
// characters golang.org/x/net/publicsuffix's generator accepts), so
// "%.base" is a public suffix exactly when the list has a wildcard rule
// *.base (and the probe is never one of its exceptions).
const suffixProbe = "%"

// checkPublicSuffix is the public-suffix guard: it returns why pattern,
// parsed as p (a name, not an IP literal), would cover a public suffix, or
// nil. It is the only place pinset decides this.
func checkPublicSuffix(pattern string, p Pattern) *PublicSuffixError {
	if p.IP || p.Wildcard == Exact {
		return nil
	}
	e := &PublicSuffixError{Pattern: pattern, Base: p.Base}
	if ps, icann := publicsuffix.PublicSuffix(p.Base); ps == p.Base {
		e.Rule, e.Suffix, e.Section = SuffixBase, p.Base, section(ps, icann)
		return e
	}
	probe := suffixProbe + "." + p.Base
	if ps, icann := publicsuffix.PublicSuffix(probe); ps == probe {
		e.Rule, e.Suffix, e.Section = SuffixNextLevel, "*."+p.Base, section(ps, icann)
		return e
	}
	if p.Wildcard == AnyDepth || p.Wildcard == Subdomain {
		if rule, ok := pslRuleBelow(p.Base); ok {
			name := rule
			if rest, wild := strings.CutPrefix(rule, "*."); wild {
				name = suffixProbe + "." + rest
			}
			ps, icann := publicsuffix.PublicSuffix(name)
			e.Rule, e.Suffix, e.Section = SuffixBelow, rule, section(ps, icann)
			return e
		}
	}
	return nil
}

// section names the part of the list a public suffix comes from.
func section(suffix string, icann bool) string {
	switch {
	case icann:
		return "ICANN"
	case !strings.Contains(suffix, "."):
		// No private rule is a single label; an unlisted top-level
		// label is a suffix by the list's default rule "*".
		return "default"
	}
	return "private"
}

// pslRuleBelow returns a rule of the list strictly below name (the shortest),
// if there is one. The table is derived from the same list as
// golang.org/x/net/publicsuffix (TestPSLBelowTable holds them together),
// because that package offers lookups only, not the rules under a name.
func pslRuleBelow(name string) (string, bool) {
	i := sort.Search(len(pslBelow), func(i int) bool { return pslBelow[i][0] >= name })
	if i < len(pslBelow) && pslBelow[i][0] == name {
		return pslBelow[i][1], true
	}
	return "", false
}
