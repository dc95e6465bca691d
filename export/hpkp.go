package export

import (
	"fmt"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
)

// HTTP Public Key Pinning, report-only (RFC 7469): a server sends
//
//	Public-Key-Pins-Report-Only: pin-sha256="..."; pin-sha256="..."; max-age=N; includeSubDomains; report-uri="..."
//
// for ITSELF (and, with includeSubDomains, for the names below it); user
// agents that implement it report, and never block, connections whose
// verified chain has none of the pins. No current browser implements HPKP
// (Chrome and Firefox removed it in 2018-2020), so the header is useful only
// to clients that read it themselves. The output is one header line per
// policy, preceded by a comment naming the hosts that should send it.

func renderHPKP(p *prepared) ([]byte, error) {
	maxAge := p.HPKPMaxAge
	if maxAge == 0 {
		maxAge = DefaultHPKPMaxAge
	}
	if maxAge < 0 {
		return nil, fmt.Errorf("hpkp max-age %v is negative", maxAge)
	}
	p.warn(WarnObsolete, "", "no current browser implements HPKP: the headers only reach clients that read Public-Key-Pins-Report-Only themselves")
	p.warnNoExpiration("HPKP")
	var b strings.Builder
	for _, l := range p.header() {
		b.WriteString("# " + l + "\n")
	}
	b.WriteString("# Each header line is sent by the host(s) named in the comment above it.\n")
	for _, h := range p.hosts {
		if !h.ReportOnly {
			p.warn(WarnEnforcedAsReport, h.Pattern, "enforced in pinset, exported as a report-only header: HPKP clients report a mismatch but do not block the connection")
		}
		if h.ReportURI == "" {
			p.warn(WarnNoReportURI, h.Pattern, "no report URI: a Public-Key-Pins-Report-Only header without report-uri has no effect")
		}
		if h.pat.IP {
			p.warn(WarnIPLiteral, h.Pattern, "RFC 7469 clients ignore the header on IP address hosts, so %s cannot be pinned this way", h.base())
		}
		var who string
		var sub bool
		switch {
		case !h.coversBase():
			who = "every host one label below " + h.base()
			p.warn(WarnOneLabelWildcard, h.Pattern,
				"HPKP is sent by each host for itself: serve this header from every host one label below %s; includeSubDomains is not set (it would also cover deeper names)", h.base())
		case h.subdomains():
			who, sub = h.base()+" (includeSubDomains: and every name below it)", true
		default:
			who = h.base()
		}
		directives := pinStrings(h.Pins, pin.HPKP)
		directives = append(directives, fmt.Sprintf("max-age=%d", int64(maxAge/time.Second)))
		if sub {
			directives = append(directives, "includeSubDomains")
		}
		if h.ReportURI != "" {
			directives = append(directives, fmt.Sprintf("report-uri=%q", h.ReportURI))
		}
		b.WriteString("\n# " + who + "\n")
		b.WriteString("Public-Key-Pins-Report-Only: " + strings.Join(directives, "; ") + "\n")
	}
	return []byte(b.String()), nil
}
