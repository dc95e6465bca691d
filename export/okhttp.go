package export

import (
	"strconv"
	"strings"

	"pinset.dev/pinset/pin"
)

// OkHttp's CertificatePinner
// (https://square.github.io/okhttp/5.x/okhttp/okhttp3/-certificate-pinner/).
//
// Patterns mean what pinset's mean: an exact host, "*.x" for exactly one
// label below x, "**.x" for x and every name below it. But where pinset
// applies only the most specific matching policy, OkHttp accepts a
// connection when ANY pin of ANY matching pattern is in the verified chain,
// so a broad pattern's pins also open the hosts that a narrower pattern
// pins differently. There is no report-only mode, no reporting and no
// expiry.

func renderOkHttp(p *prepared) ([]byte, error) {
	const platform = "OkHttp"
	var all []keyed
	for _, h := range p.hosts {
		// include-subdomains on x is "**.x" in OkHttp's spelling: the same reach.
		all = append(all, keyed{host: h, includeSubdomains: h.subdomains()})
	}
	var kept []keyed
	for _, h := range all {
		if !h.ReportOnly {
			kept = append(kept, h)
		}
	}
	for _, h := range all {
		if !h.ReportOnly {
			continue
		}
		name := h.base()
		if !h.coversBase() {
			name = "a." + name
		}
		var broader []string
		for _, k := range kept {
			if _, ok := k.pat.Reach(name); ok {
				broader = append(broader, k.Pattern)
			}
		}
		if len(broader) > 0 {
			p.warn(WarnReportOnly, h.Pattern, "left out: OkHttp has no report-only mode; %s, enforced, also match %s there, so their pins ARE enforced on it", strings.Join(broader, ", "), name)
		} else {
			p.warn(WarnReportOnly, h.Pattern, "left out: OkHttp has no report-only mode, so this host is not pinned there and no failures are reported")
		}
	}
	p.warnReportURI(platform, kept)
	p.warnNoExpiration(platform)
	p.warnAnyMatch(kept)

	var b strings.Builder
	for _, l := range p.header() {
		b.WriteString("// " + l + "\n")
	}
	b.WriteString(`//
// Use it with OkHttpClient.Builder().certificatePinner(certificatePinner).
// OkHttp checks the pins against the chain it verified; OkHttp before 3.1.2
// (and 2.7.4) checked the chain the server sent instead (CVE-2016-2402).

import okhttp3.CertificatePinner

val certificatePinner: CertificatePinner = CertificatePinner.Builder()
`)
	for _, h := range kept {
		b.WriteString("    .add(\n")
		b.WriteString("        " + kotlinString(okhttpPattern(h)) + ",\n")
		for _, q := range h.Pins {
			b.WriteString("        " + kotlinString(q.Format(pin.OkHttp)) + ",\n")
		}
		b.WriteString("    )\n")
	}
	b.WriteString("    .build()\n")
	return []byte(b.String()), nil
}

// okhttpPattern spells a policy's pattern as OkHttp does.
func okhttpPattern(h keyed) string {
	if h.anyDepth() {
		return "**." + h.base()
	}
	return h.pat.String()
}

// warnAnyMatch finds names that several exported patterns match and whose
// pins differ: OkHttp accepts the union there, pinset only the most specific
// policy's pins. Candidate names are each pattern's base and a name one
// label below it; whether a pattern matches is decided by package policy.
func (p *prepared) warnAnyMatch(kept []keyed) {
	for i := range kept {
		for j := i + 1; j < len(kept); j++ {
			a, b := kept[i], kept[j]
			for _, n := range []string{a.base(), b.base(), "a." + a.base(), "a." + b.base()} {
				_, okA := a.pat.Reach(n)
				_, okB := b.pat.Reach(n)
				if !okA || !okB {
					continue
				}
				win, ok := p.set.Match(n)
				if !ok {
					continue
				}
				union := map[pin.Pin]bool{}
				for _, k := range kept {
					if _, ok := k.pat.Reach(n); ok {
						for _, q := range k.Pins {
							union[q] = true
						}
					}
				}
				extra := 0
				for q := range union {
					if !pin.Contains(win.Pins, q) {
						extra++
					}
				}
				if extra == 0 || win.ReportOnly {
					// Same pins either way, or a report-only winner, whose
					// omission is its own warning.
					break
				}
				p.warn(WarnAnyMatch, win.Pattern,
					"%s is matched by both %s and %s: OkHttp accepts any pin of either, %d pin(s) more than pinset, which applies only the most specific policy (%s)",
					n, a.Pattern, b.Pattern, extra, win.Pattern)
				break
			}
		}
	}
}

// kotlinString quotes s as a Kotlin string literal; '$' starts a template
// in Kotlin and is escaped too.
func kotlinString(s string) string {
	q := strconv.Quote(s)
	return strings.ReplaceAll(q, "$", `\$`)
}
