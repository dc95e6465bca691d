package export

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// OkHttp's CertificatePinner
// (https://square.github.io/okhttp/5.x/okhttp/okhttp3/-certificate-pinner/).
//
// Patterns mean what pinset's mean in OkHttp 4.3.0 and later: an exact host,
// "*.x" for exactly one label below x, "**.x" for x and every name below it.
// But where pinset applies only the most specific matching policy, OkHttp
// accepts a connection when ANY pin of ANY matching pattern is in the
// verified chain, so a broad pattern's pins also open the hosts that a
// narrower pattern pins differently. There is no report-only mode, no
// reporting and no expiry.
//
// What each version understands, from OkHttp's own source:
//
//   - "**." arrived in 4.3.0 (CHANGELOG.md, "Version 4.3.0": "Match any
//     number of subdomains with two asterisks"; CertificatePinner.kt,
//     Pin.matches, the pattern.startsWith("**.") branch). OkHttp 3.x and 4.0
//     to 4.2 know only WILDCARD = "*." (3.13.1 CertificatePinner.java,
//     Pin.matches; 4.2.2 CertificatePinner.kt): any other pattern is read as
//     a literal host name, HttpUrl accepts "**.example.com" as one, and it
//     never equals a real host. The pins are silently not applied.
//   - "sha256/" pins arrived in 3.2.0 (CHANGELOG.md, "Version 3.2.0":
//     "Support SHA-256 pins in certificate pinner"); 3.1.2 and every 2.x
//     (package com.squareup.okhttp, 2.7.5 CertificatePinner.java: "pins must
//     start with 'sha1/'") throw IllegalArgumentException for them. pinset
//     writes SHA-256 pins only, so OkHttp 2.x cannot be targeted.
//   - Pins are checked against the chain OkHttp verified, not the one the
//     server sent, since 3.1.2 and 2.7.4 (CVE-2016-2402); 3.2.0 is later.
//   - An IPv6 literal pattern: 3.x builds the pin's host with
//     HttpUrl.get("http://" + pattern), which needs brackets
//     ("[2001:db8::1]") and throws without them; 4.x canonicalises the
//     pattern with toCanonicalHost, which takes it bare.

// OkHttp versions the okhttp format writes for.
const (
	OkHttp3 = 3 // OkHttp 3.2.0 to 4.2.x: "*." only
	OkHttp4 = 4 // OkHttp 4.3.0 and later: "*." and "**."
)

// ErrOkHttpVersion is returned for an OkHttp major version the okhttp
// format cannot write for.
var ErrOkHttpVersion = errors.New("unsupported OkHttp version")

// okhttpEntry is one .add(...) call of the generated code: a pattern as
// OkHttp reads it and the policy it comes from.
type okhttpEntry struct {
	keyed
	written string         // the pattern as written in the code
	reach   policy.Pattern // what OkHttp matches with it
}

func renderOkHttp(p *prepared) ([]byte, error) {
	plan, err := planOkHttp(p)
	if err != nil {
		return nil, err
	}
	return plan.kotlin(p), nil
}

// okhttpPlan is what the okhttp format writes, before it is spelled as
// Kotlin (renderOkHttp) or as data (OkHttp).
type okhttpPlan struct {
	version      int
	entries      []okhttpEntry
	minimum, why string
}

// planOkHttp lays the policies out as OkHttp patterns for the version asked
// for, with every warning.
func planOkHttp(p *prepared) (*okhttpPlan, error) {
	const platform = "OkHttp"
	version := p.OkHttpVersion
	switch version {
	case 0:
		version = OkHttp4
	case OkHttp3, OkHttp4:
	case 2:
		return nil, fmt.Errorf("%w 2: OkHttp 2.x (com.squareup.okhttp) takes only sha1/ pins and pinset writes SHA-256 pins; use OkHttp 3.2.0 or later (--okhttp-version 3)", ErrOkHttpVersion)
	default:
		return nil, fmt.Errorf("%w %d: want 3 (OkHttp 3.2.0 to 4.2.x) or 4 (4.3.0 and later)", ErrOkHttpVersion, version)
	}
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
	entries := okhttpEntries(p, kept, version)
	for _, h := range all {
		if !h.ReportOnly {
			continue
		}
		name := h.base()
		if !h.coversBase() {
			name = "a." + name
		}
		var broader []string
		for _, e := range entries {
			if _, ok := e.reach.Reach(name); ok && !slices.Contains(broader, e.Pattern) {
				broader = append(broader, e.Pattern)
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
	p.warnAnyMatch(entries)

	minimum, why := okhttpMinimum(entries, version)
	return &okhttpPlan{version: version, entries: entries, minimum: minimum, why: why}, nil
}

// kotlin writes the plan as Kotlin code building a CertificatePinner.
func (plan *okhttpPlan) kotlin(p *prepared) []byte {
	minimum, why, entries := plan.minimum, plan.why, plan.entries
	var b strings.Builder
	for _, l := range p.header() {
		b.WriteString("// " + l + "\n")
	}
	fmt.Fprintf(&b, "//\n// Needs OkHttp %s or later: %s.\n", minimum, why)
	b.WriteString(`// OkHttp 2.x (com.squareup.okhttp) takes only sha1/ pins and cannot use this file.
// Use it with OkHttpClient.Builder().certificatePinner(certificatePinner).
// OkHttp checks the pins against the chain it verified (since 3.1.2; before,
// it checked the chain the server sent: CVE-2016-2402).

import okhttp3.CertificatePinner

val certificatePinner: CertificatePinner = CertificatePinner.Builder()
`)
	for _, e := range entries {
		b.WriteString("    .add(\n")
		b.WriteString("        " + kotlinString(e.written) + ",\n")
		for _, q := range e.Pins {
			b.WriteString("        " + kotlinString(q.Format(pin.OkHttp)) + ",\n")
		}
		b.WriteString("    )\n")
	}
	b.WriteString("    .build()\n")
	return []byte(b.String())
}

// okhttpEntries spells the kept policies as OkHttp patterns for a version.
// For OkHttp 3, "**.x" (and x with include-subdomains) becomes "x" and
// "*.x", which reach x and one label below it; deeper names cannot be said
// and a warning says they are not pinned.
func okhttpEntries(p *prepared, kept []keyed, version int) []okhttpEntry {
	var out []okhttpEntry
	for _, h := range kept {
		switch {
		case h.anyDepth() && version == OkHttp3:
			out = append(out,
				okhttpEntry{keyed: h, written: h.base(), reach: policy.Pattern{Base: h.base()}},
				okhttpEntry{keyed: h, written: "*." + h.base(), reach: policy.Pattern{Base: h.base(), Wildcard: policy.OneLabel}})
			p.warn(WarnSubdomainDepth, h.Pattern,
				"OkHttp before 4.3.0 has no \"**.\" (it would read it as a literal host name and pin nothing): written as %s and *.%s, so names two or more labels below (a.b.%s) are NOT pinned; use --okhttp-version 4 with OkHttp 4.3.0 or later to pin them",
				h.base(), h.base(), h.base())
		case h.anyDepth():
			out = append(out, okhttpEntry{keyed: h, written: "**." + h.base(), reach: policy.Pattern{Base: h.base(), Wildcard: policy.AnyDepth}})
		case h.pat.IP && version == OkHttp3 && strings.Contains(h.base(), ":"):
			// 3.x: HttpUrl.get("http://" + pattern) needs an IPv6 literal in brackets.
			out = append(out, okhttpEntry{keyed: h, written: "[" + h.base() + "]", reach: h.pat})
		default:
			out = append(out, okhttpEntry{keyed: h, written: h.pat.String(), reach: h.pat})
		}
	}
	return out
}

// okhttpMinimum returns the oldest OkHttp version that reads every entry as
// written, and why.
func okhttpMinimum(entries []okhttpEntry, version int) (string, string) {
	for _, e := range entries {
		if strings.HasPrefix(e.written, "**.") {
			return "4.3.0", `"**." patterns arrived in 4.3.0; earlier versions read them as a literal host name and pin nothing`
		}
	}
	if version == OkHttp3 {
		return "3.2.0", `written for OkHttp 3.x (no "**." patterns); sha256/ pins arrived in 3.2.0`
	}
	return "3.2.0", `no "**." patterns are needed here; sha256/ pins arrived in 3.2.0`
}

// warnAnyMatch finds names that several written patterns match and whose
// pins differ: OkHttp accepts the union there, pinset only the most specific
// policy's pins. Candidate names are each pattern's base and a name one
// label below it; whether a pattern matches is decided by package policy.
func (p *prepared) warnAnyMatch(entries []okhttpEntry) {
	for i := range entries {
		for j := i + 1; j < len(entries); j++ {
			a, b := entries[i], entries[j]
			if a.Pattern == b.Pattern {
				continue // two spellings of one policy: the same pins
			}
			for _, n := range []string{a.reach.Base, b.reach.Base, "a." + a.reach.Base, "a." + b.reach.Base} {
				_, okA := a.reach.Reach(n)
				_, okB := b.reach.Reach(n)
				if !okA || !okB {
					continue
				}
				win, ok := p.set.Match(n)
				if !ok {
					continue
				}
				union := map[pin.Pin]bool{}
				for _, e := range entries {
					if _, ok := e.reach.Reach(n); ok {
						for _, q := range e.Pins {
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
