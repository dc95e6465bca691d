package export

import (
	"errors"
	"fmt"
	"strings"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// maxPinSpec bounds one --pin argument.
const maxPinSpec = 8192

// ParsePinSpec reads a policy written on the command line as
//
//	HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]
//
// the syntax of 'pinset manifest new --host'. HOST is any pattern package
// policy accepts (api.example.com, *.example.com, **.example.com, an IP
// literal); each PIN is in any spelling pin.Parse reads. The policy is
// validated on its own (policy.Policy.Validate); backup pins are checked
// by Export.
func ParsePinSpec(s string) (policy.Policy, error) {
	if len(s) > maxPinSpec {
		return policy.Policy{}, fmt.Errorf("--pin value is longer than %d characters", maxPinSpec)
	}
	hostPart, rest, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(hostPart) == "" {
		return policy.Policy{}, fmt.Errorf("%q: expected HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]", s)
	}
	fields := strings.Split(rest, ";")
	pol := policy.Policy{Pattern: strings.TrimSpace(hostPart)}
	for _, ps := range strings.Split(fields[0], ",") {
		if strings.TrimSpace(ps) == "" {
			continue
		}
		q, err := pin.Parse(ps)
		if err != nil {
			return policy.Policy{}, fmt.Errorf("host %q: %w", pol.Pattern, err)
		}
		pol.Pins = append(pol.Pins, q)
	}
	for _, opt := range fields[1:] {
		opt = strings.TrimSpace(opt)
		name, val, hasVal := strings.Cut(opt, "=")
		switch {
		case opt == "include-subdomains":
			pol.IncludeSubdomains = true
		case opt == "report-only":
			pol.ReportOnly = true
		case name == "report-uri" && hasVal:
			pol.ReportURI = strings.TrimSpace(val)
		case opt == "":
		default:
			return policy.Policy{}, fmt.Errorf("host %q: unknown option %q (known: include-subdomains, report-only, report-uri=URL)", pol.Pattern, opt)
		}
	}
	if err := pol.Validate(); err != nil {
		return policy.Policy{}, err
	}
	return pol, nil
}

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
