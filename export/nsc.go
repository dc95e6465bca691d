package export

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"pinset.dev/pinset/pin"
)

// The Android Network Security Config (Android 7.0, API 24, and later):
// https://developer.android.com/privacy-and-security/security-config
//
// Each host gets its own <domain-config> with cleartext traffic refused, its
// trust anchors (Input.TrustAnchors, the app's base-config anchors; system
// only when none are given, with a warning: see anchors.go) and a <pin-set>. The <base-config> is left to the app: the export
// changes nothing for hosts it does not pin. A pin-set's expiration date
// makes Android stop enforcing it after that day (fail open).

func renderNSC(p *prepared) ([]byte, error) {
	const platform = "Android NSC"
	hosts := p.domainKeyed(platform, `includeSubdomains="true"`, false)
	hosts = p.dropReportOnly(platform+" has no report-only mode", hosts, false)
	p.warnReportURI(platform, hosts)
	anchors, err := p.nscAnchors(platform)
	if err != nil {
		return nil, err
	}
	return writeNSC(p, hosts, anchors, p.expiration(expiryAndroid), nil), nil
}

// writeNSC writes a network-security-config document; anchors are the
// <certificates> sources of each domain-config; expiration is the
// pin sets' date (or ""); extra, when not nil,
// writes more elements at the end of each domain-config (TrustKit's tags).
func writeNSC(p *prepared, hosts []keyed, anchors []string, expiration string, extra func(w *xmlWriter, h keyed)) []byte {
	w := &xmlWriter{}
	w.line(0, `<?xml version="1.0" encoding="utf-8"?>`)
	comment := append(p.header(),
		`Save it as res/xml/network_security_config.xml and reference it from`,
		`AndroidManifest.xml: <application android:networkSecurityConfig="@xml/network_security_config">.`)
	w.comment(0, comment)
	w.line(0, `<network-security-config>`)
	for _, h := range hosts {
		w.line(1, `<domain-config cleartextTrafficPermitted="false">`)
		w.line(2, fmt.Sprintf(`<domain includeSubdomains="%t">%s</domain>`, h.includeSubdomains, esc(h.base())))
		w.line(2, `<trust-anchors>`)
		for _, a := range anchors {
			w.line(3, fmt.Sprintf(`<certificates src="%s" />`, esc(a)))
		}
		w.line(2, `</trust-anchors>`)
		if expiration != "" {
			w.line(2, fmt.Sprintf(`<pin-set expiration="%s">`, esc(expiration)))
		} else {
			w.line(2, `<pin-set>`)
		}
		for _, q := range h.Pins {
			w.line(3, fmt.Sprintf(`<pin digest="SHA-256">%s</pin>`, esc(q.Format(pin.Base64))))
		}
		w.line(2, `</pin-set>`)
		if extra != nil {
			extra(w, h)
		}
		w.line(1, `</domain-config>`)
	}
	w.line(0, `</network-security-config>`)
	return w.Bytes()
}

// xmlWriter writes indented XML lines.
type xmlWriter struct{ bytes.Buffer }

func (w *xmlWriter) line(depth int, s string) {
	w.WriteString(strings.Repeat("    ", depth))
	w.WriteString(s)
	w.WriteByte('\n')
}

// comment writes an XML comment; "--" cannot appear inside one, so it is
// replaced.
func (w *xmlWriter) comment(depth int, lines []string) {
	for i, l := range lines {
		l = strings.ReplaceAll(l, "--", "- -")
		switch {
		case len(lines) == 1:
			w.line(depth, "<!-- "+l+" -->")
		case i == 0:
			w.line(depth, "<!-- "+l)
		case i == len(lines)-1:
			w.line(depth, "     "+l+" -->")
		default:
			w.line(depth, "     "+l)
		}
	}
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
