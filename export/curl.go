package export

import (
	"strings"

	"pinset.dev/pinset/pin"
)

// curl's --pinnedpubkey (CURLOPT_PINNEDPUBLICKEY,
// https://curl.se/libcurl/c/CURLOPT_PINNEDPUBLICKEY.html): one or more
// "sha256//BASE64" hashes separated by ';'. After verifying the chain (unless
// -k), curl extracts the public key of the certificate the SERVER presented
// and aborts unless its SHA-256 is one of the hashes. So:
//
//   - only the leaf's key is compared: a pin of an intermediate or root key
//     never matches, and a host pinned only by CA keys always fails;
//   - the option applies to the one transfer it is given to: there are no
//     host patterns, no subdomains, no report-only mode, no reports and no
//     expiry. The comment above each line says which hosts it is for.

func renderCurl(p *prepared) ([]byte, error) {
	const platform = "curl"
	var hosts []keyed
	for _, h := range p.hosts {
		if h.ReportOnly {
			p.warn(WarnReportOnly, h.Pattern, "left out: curl has no report-only mode, and --pinnedpubkey would refuse a mismatching server")
			continue
		}
		hosts = append(hosts, keyed{host: h, includeSubdomains: h.subdomains()})
	}
	p.warnReportURI(platform, hosts)
	p.warnNoExpiration(platform)
	if p.Positions.empty() && len(hosts) > 0 {
		p.warn(WarnPosition, "", "no chain positions known (give --cert files or --connect): curl compares only the server certificate's key, so a pin of an intermediate or root key never matches there")
	}

	var b strings.Builder
	for _, l := range p.header() {
		b.WriteString("# " + l + "\n")
	}
	b.WriteString("# Give the line for a host to curl with its URL: curl --pinnedpubkey '...' https://HOST/\n")
	b.WriteString("# curl compares these hashes with the key of the server's certificate only (not its CAs).\n")
	for _, h := range hosts {
		var leaf []pin.Pin
		var ca int
		for _, q := range h.Pins {
			if p.Positions.Of(q) == CA {
				ca++
				continue
			}
			leaf = append(leaf, q)
		}
		switch {
		case ca > 0 && len(leaf) == 0:
			p.warn(WarnPosition, h.Pattern, "every pin is a CA key and curl compares only the server certificate's key: left out, since curl would refuse every connection to %s", h.base())
			continue
		case ca > 0:
			p.warn(WarnPosition, h.Pattern, "%d CA pin(s) left out: curl compares only the server certificate's key", ca)
		}
		var who string
		switch {
		case !h.coversBase():
			who = "every host one label below " + h.base()
		case h.subdomains():
			who = h.base() + " and every name below it"
		default:
			who = h.base()
		}
		hashes := make([]string, len(leaf))
		for i, q := range leaf {
			hashes[i] = "sha256//" + q.Format(pin.Base64)
		}
		b.WriteString("\n# " + who + "\n")
		b.WriteString("--pinnedpubkey '" + strings.Join(hashes, ";") + "'\n")
	}
	return []byte(b.String()), nil
}
