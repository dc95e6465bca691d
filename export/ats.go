package export

import (
	"strings"

	"pinset.dev/pinset/pin"
)

// iOS App Transport Security pinning (iOS 14, macOS 11 and later):
// Info.plist NSAppTransportSecurity > NSPinnedDomains > domain >
// NSPinnedLeafIdentities / NSPinnedCAIdentities, each a list of
// { SPKI-SHA256-BASE64: pin }. ATS checks leaf identities against the
// server's certificate and CA identities against the CAs of the chain; when
// both lists are present BOTH must match. NSIncludesSubdomains extends a
// domain to names exactly one label below it. There is no expiry, no
// report-only mode and no reporting.

const atsPinKey = "SPKI-SHA256-BASE64"

func renderATS(p *prepared) ([]byte, error) {
	const platform = "iOS ATS"
	hosts := p.domainKeyed(platform, "NSIncludesSubdomains", true)
	hosts = p.dropReportOnly(platform+" has no report-only mode", hosts, true)
	p.warnReportURI(platform, hosts)
	p.warnNoExpiration(platform)
	domains := map[string]any{}
	if p.Positions.empty() {
		p.warn(WarnPosition, "", "no chain positions known (give --cert files or --connect): every pin is written as a leaf identity, so iOS will not match a pin of an intermediate or root key")
	}
	for _, h := range hosts {
		if h.anyDepth() {
			p.warn(WarnSubdomainDepth, h.Pattern,
				"NSIncludesSubdomains reaches only names one label below %s: deeper names (a.b.%s) are NOT pinned on iOS", h.base(), h.base())
		}
		if h.pat.IP {
			p.warn(WarnIPLiteral, h.Pattern, "App Transport Security applies to domain names; Apple does not document NSPinnedDomains for IP addresses, so connections to %s may not be pinned", h.base())
		}
		leaf, ca := p.splitByPosition(h)
		d := map[string]any{}
		if h.includeSubdomains {
			d["NSIncludesSubdomains"] = true
		}
		if len(leaf) > 0 {
			d["NSPinnedLeafIdentities"] = atsIdentities(leaf)
		}
		if len(ca) > 0 {
			d["NSPinnedCAIdentities"] = atsIdentities(ca)
		}
		domains[h.base()] = d
	}
	return writePlist(p, map[string]any{
		"NSAppTransportSecurity": map[string]any{"NSPinnedDomains": domains},
	})
}

func atsIdentities(pins []pin.Pin) []map[string]string {
	out := make([]map[string]string, len(pins))
	for i, q := range pins {
		out[i] = map[string]string{atsPinKey: q.Format(pin.Base64)}
	}
	return out
}

// splitByPosition puts each pin of h under leaf or CA identities by where
// it sits in a chain. Pins of unknown position join the known group when
// all known pins agree (a held-back key usually replaces one of its own
// kind), and the leaf group otherwise. A policy with pins in both groups is
// stricter on iOS (both must match), which is said in a warning.
func (p *prepared) splitByPosition(h keyed) (leaf, ca []pin.Pin) {
	var unknown []pin.Pin
	for _, q := range h.Pins {
		switch p.Positions.Of(q) {
		case Leaf:
			leaf = append(leaf, q)
		case CA:
			ca = append(ca, q)
		default:
			unknown = append(unknown, q)
		}
	}
	if len(unknown) > 0 {
		group := "leaf"
		if len(ca) > 0 && len(leaf) == 0 {
			// A held-back key usually replaces one of its own kind.
			ca = append(ca, unknown...)
			group = "CA"
		} else {
			leaf = append(leaf, unknown...)
		}
		if p.Positions.empty() {
			return leaf, ca // said once for the whole export
		}
		p.warn(WarnPosition, h.Pattern,
			"the chain position of %s is unknown (not in any --cert file or --connect chain): written as %s identities; if a pin belongs to the other group, iOS will not match it",
			joinPins(unknown), group)
	}
	if len(leaf) > 0 && len(ca) > 0 {
		p.warn(WarnPosition, h.Pattern,
			"pins sit both at the leaf (%d) and at CAs (%d): iOS requires a leaf pin AND a CA pin to match, where pinset accepts any one pin", len(leaf), len(ca))
	}
	return leaf, ca
}

func joinPins(pins []pin.Pin) string {
	s := pinStrings(pins, pin.Base64)
	if len(s) == 1 {
		return "pin " + s[0]
	}
	return "pins " + strings.Join(s, ", ")
}
