package policy

import (
	"fmt"
	"strings"

	"pinset.dev/pinset/pin"
)

// maxSpec bounds one policy spec.
const maxSpec = 8192

// ParseSpec reads a policy written on the command line as
//
//	HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]
//
// the syntax of 'pinset manifest new --host' and 'pinset export --pin'.
// HOST is any pattern ParsePattern accepts (api.example.com, *.example.com, **.example.com, an IP
// literal); each PIN is in any spelling pin.Parse reads. The policy is
// validated on its own (Policy.Validate); backup pins are checked
// by Export.
func ParseSpec(s string) (Policy, error) {
	if len(s) > maxSpec {
		return Policy{}, fmt.Errorf("policy spec is longer than %d characters", maxSpec)
	}
	hostPart, rest, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(hostPart) == "" {
		return Policy{}, fmt.Errorf("%q: expected HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]", s)
	}
	fields := strings.Split(rest, ";")
	pol := Policy{Pattern: strings.TrimSpace(hostPart)}
	for _, ps := range strings.Split(fields[0], ",") {
		if strings.TrimSpace(ps) == "" {
			continue
		}
		q, err := pin.Parse(ps)
		if err != nil {
			return Policy{}, fmt.Errorf("host %q: %w", pol.Pattern, err)
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
			return Policy{}, fmt.Errorf("host %q: unknown option %q (known: include-subdomains, report-only, report-uri=URL)", pol.Pattern, opt)
		}
	}
	if err := pol.Validate(); err != nil {
		return Policy{}, err
	}
	return pol, nil
}
