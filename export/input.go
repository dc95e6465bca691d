package export

import (
	"errors"
	"fmt"
	"strings"

	"pinset.dev/pinset/policy"
)

// ErrNoMatch is returned by Select when a selector names no policy.
var ErrNoMatch = errors.New("no policy covers it")

// Select returns the policies that selectors name, in the policies' order.
// A selector is either a pattern written as in the manifest (normalised by
// package policy before comparing, so "API.Example.com." selects
// "api.example.com") or a host name, which selects the policy that
// policy.Set.Match applies to it. No selectors select everything.
func Select(policies []policy.Policy, selectors []string) ([]policy.Policy, error) {
	if len(selectors) == 0 {
		return policies, nil
	}
	set, err := policy.NewSet(policies)
	if err != nil {
		return nil, err
	}
	chosen := map[string]bool{}
	for _, sel := range selectors {
		found := false
		if sp, err := policy.ParsePattern(sel, false); err == nil {
			for _, pol := range policies {
				pp, err := policy.ParsePattern(pol.Pattern, pol.IncludeSubdomains)
				if err != nil {
					continue
				}
				if samePattern(sp, pp) {
					chosen[pol.Pattern], found = true, true
				}
			}
		}
		if !found && !strings.HasPrefix(sel, "*") {
			if pol, ok := set.Match(sel); ok {
				chosen[pol.Pattern], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("--host %q: %w", sel, ErrNoMatch)
		}
	}
	var out []policy.Policy
	for _, pol := range policies {
		if chosen[pol.Pattern] {
			out = append(out, pol)
		}
	}
	return out, nil
}

// samePattern reports whether a selector pattern names a policy's pattern;
// "**.x" names "x" with include-subdomains too (the same reach).
func samePattern(sel, pol policy.Pattern) bool {
	norm := func(p policy.Pattern) policy.Pattern {
		if p.Wildcard == policy.Subdomain {
			p.Wildcard = policy.AnyDepth
		}
		return p
	}
	return norm(sel) == norm(pol)
}
