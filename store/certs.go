package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"pinset.dev/pinset/report"
)

// Certificates are stored once: a report's chains hold the same
// certificates as its raw body, and many reports hold the same chain. The
// certificates table keeps each DER once under its SHA-256; a report's
// normalised JSON names a certificate as "sha256:HEX" in place of its PEM,
// and its raw body is kept with each certificate string cut out, together
// with what it takes to write that string back byte for byte (rawRef).
// A string that cannot be rebuilt exactly (an unusual escape, a header)
// stays in the raw body: the raw body is always returned exactly as sent.

const certRefPrefix = "sha256:"

// preparedReport is a report made ready for storage outside the
// transaction.
type preparedReport struct {
	norm        string            // normalised JSON, certificates by reference
	template    []byte            // raw body with certificate strings cut out
	refs        string            // JSON []rawRef; "" when none were cut
	certs       map[string][]byte // hex SHA-256 -> DER
	fingerprint string
	size        int64 // what the report counts against its app's bytes quota
}

func prepareReport(r *report.Report, raw []byte) (*preparedReport, error) {
	p := &preparedReport{certs: map[string][]byte{}, fingerprint: r.Fingerprint()}
	c := *r
	ref := func(chain []report.Cert) []report.Cert {
		out := make([]report.Cert, len(chain))
		for i, cert := range chain {
			out[i] = cert
			block, rest := pem.Decode([]byte(cert.PEM))
			if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
				continue // kept inline
			}
			h := digest(block.Bytes)
			p.certs[h] = block.Bytes
			out[i].PEM = certRefPrefix + h
		}
		return out
	}
	c.ServedChain, c.ValidatedChain = ref(r.ServedChain), ref(r.ValidatedChain)
	norm, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	p.norm = string(norm)
	var refs []rawRef
	p.template, refs = cutCertificates(raw, p.certs)
	if len(refs) > 0 {
		b, err := json.Marshal(refs)
		if err != nil {
			return nil, err
		}
		p.refs = string(b)
	}
	p.size = int64(len(p.norm) + len(p.template) + len(p.refs))
	for _, der := range p.certs {
		p.size += int64(len(der))
	}
	return p, nil
}

// resolveCerts puts the PEM of each referenced certificate back into a
// normalised report.
func resolveCerts(r *report.Report, certs map[string][]byte) error {
	for _, chain := range [][]report.Cert{r.ServedChain, r.ValidatedChain} {
		for i := range chain {
			h, ok := strings.CutPrefix(chain[i].PEM, certRefPrefix)
			if !ok {
				continue
			}
			der, ok := certs[h]
			if !ok {
				return fmt.Errorf("certificate %s is missing from the certificates table", h)
			}
			chain[i].PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		}
	}
	return nil
}

// certRefs lists the certificates a normalised report refers to.
func certRefs(r *report.Report) []string {
	var out []string
	for _, chain := range [][]report.Cert{r.ServedChain, r.ValidatedChain} {
		for _, c := range chain {
			if h, ok := strings.CutPrefix(c.PEM, certRefPrefix); ok {
				out = append(out, h)
			}
		}
	}
	return out
}

// rawRef is one certificate string cut out of a raw body: at offset Off
// of the template goes the JSON string literal of the certificate Cert
// written in Style.
type rawRef struct {
	Off   int      `json:"o"`
	Cert  string   `json:"c"`
	Style pemStyle `json:"s"`
}

// pemStyle is how a client wrote a certificate as PEM inside a JSON
// string: pinset and TrustKit iOS write 64-character lines ending in \n;
// TrustKit-Android writes android.util.Base64.DEFAULT (76-character lines,
// each ending in \n) and org.json escapes every / as \/.
type pemStyle struct {
	Width int    `json:"w"`           // base64 characters per line; 0: one line
	EOL   string `json:"e,omitempty"` // between base64 lines
	Head  string `json:"h,omitempty"` // after the BEGIN line
	Tail  string `json:"t,omitempty"` // after the last base64 line
	Final string `json:"f,omitempty"` // after the END line
	Slash bool   `json:"sl,omitempty"`
}

const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
)

func validEOL(s string) bool { return s == "" || s == "\n" || s == "\r\n" }

// leadingEOL and trailingEOL are the line ending s starts or ends with:
// "\r\n", "\n" or none.
func leadingEOL(s string) string  { return eol(s, strings.HasPrefix) }
func trailingEOL(s string) string { return eol(s, strings.HasSuffix) }

func eol(s string, has func(s, affix string) bool) string {
	for _, e := range []string{"\r\n", "\n"} {
		if has(s, e) {
			return e
		}
	}
	return ""
}

func wrapBase64(b64 string, width int, eol string) string {
	if width <= 0 || width >= len(b64) {
		return b64
	}
	var b strings.Builder
	for i := 0; i < len(b64); i += width {
		if i > 0 {
			b.WriteString(eol)
		}
		b.WriteString(b64[i:min(i+width, len(b64))])
	}
	return b.String()
}

// render writes der as the JSON string literal a client sent.
func (s pemStyle) render(der []byte) []byte {
	text := pemBegin + s.Head + wrapBase64(base64.StdEncoding.EncodeToString(der), s.Width, s.EOL) + s.Tail + pemEnd + s.Final
	return quotePEM(text, s.Slash)
}

// quotePEM quotes PEM text as JSON. PEM text holds only base64 characters,
// letters, dashes, spaces and line ends, so these escapes are all it needs.
func quotePEM(text string, slash bool) []byte {
	text = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(text)
	if slash {
		text = strings.ReplaceAll(text, "/", `\/`)
	}
	return []byte(`"` + text + `"`)
}

// matchStyle finds the style in which literal (a JSON string literal, quotes
// included) spells der, if it is one the store can rebuild exactly.
func matchStyle(literal []byte, der []byte) (pemStyle, bool) {
	var text string
	if err := json.Unmarshal(literal, &text); err != nil {
		return pemStyle{}, false
	}
	rest, ok := strings.CutPrefix(text, pemBegin)
	if !ok {
		return pemStyle{}, false
	}
	var s pemStyle
	s.Head = leadingEOL(rest)
	rest = rest[len(s.Head):]
	i := strings.Index(rest, pemEnd)
	if i < 0 {
		return pemStyle{}, false
	}
	s.Final = rest[i+len(pemEnd):]
	body := rest[:i]
	s.Tail = trailingEOL(body)
	body = body[:len(body)-len(s.Tail)]
	if !validEOL(s.Final) {
		return pemStyle{}, false
	}
	if j := strings.IndexAny(body, "\r\n"); j > 0 {
		s.Width, s.EOL = j, leadingEOL(body[j:])
		if s.EOL == "" {
			return pemStyle{}, false
		}
	}
	if body != wrapBase64(base64.StdEncoding.EncodeToString(der), s.Width, s.EOL) {
		return pemStyle{}, false
	}
	for _, slash := range []bool{false, true} {
		s.Slash = slash
		if bytes.Equal(s.render(der), literal) {
			return s, true
		}
	}
	return pemStyle{}, false
}

// cutCertificates cuts out of raw each string of a top-level
// served-certificate-chain or validated-certificate-chain array that
// spells one of certs in a style it can rebuild. On anything unexpected it
// cuts nothing: raw is kept whole.
func cutCertificates(raw []byte, certs map[string][]byte) ([]byte, []rawRef) {
	if len(certs) == 0 {
		return raw, nil
	}
	byDER := map[string]string{}
	for h, der := range certs {
		byDER[string(der)] = h
	}
	type span struct {
		start, end int
		ref        rawRef
	}
	var spans []span
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return raw, nil
	}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return raw, nil
		}
		from := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return raw, nil
		}
		if key != "served-certificate-chain" && key != "validated-certificate-chain" {
			continue
		}
		start := valueStart(raw, from)
		elems, ok := arrayElements(raw, start, int(dec.InputOffset()))
		if !ok {
			continue
		}
		for _, e := range elems {
			lit := raw[e[0]:e[1]]
			if len(lit) == 0 || lit[0] != '"' {
				continue
			}
			var text string
			if json.Unmarshal(lit, &text) != nil {
				continue
			}
			block, _ := pem.Decode([]byte(text))
			if block == nil {
				continue
			}
			h, known := byDER[string(block.Bytes)]
			if !known {
				continue
			}
			if st, ok := matchStyle(lit, block.Bytes); ok {
				spans = append(spans, span{e[0], e[1], rawRef{Cert: h, Style: st}})
			}
		}
	}
	if len(spans) == 0 {
		return raw, nil
	}
	var tmpl []byte
	var refs []rawRef
	last := 0
	for _, s := range spans {
		tmpl = append(tmpl, raw[last:s.start]...)
		s.ref.Off = len(tmpl)
		refs = append(refs, s.ref)
		last = s.end
	}
	tmpl = append(tmpl, raw[last:]...)
	return tmpl, refs
}

// valueStart skips the blanks and the colon between a key and its value.
func valueStart(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n' || b[i] == ':') {
		i++
	}
	return i
}

// arrayElements returns the byte spans of the elements of the JSON array
// in b[start:end].
func arrayElements(b []byte, start, end int) ([][2]int, bool) {
	dec := json.NewDecoder(bytes.NewReader(b[start:end]))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false
	}
	var out [][2]int
	for dec.More() {
		from := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		s := from
		for s < end-start && (b[start+s] == ' ' || b[start+s] == '\t' || b[start+s] == '\r' || b[start+s] == '\n' || b[start+s] == ',') {
			s++
		}
		out = append(out, [2]int{start + s, start + int(dec.InputOffset())})
	}
	return out, true
}

// rebuildRaw writes the certificate strings back into a template.
func rebuildRaw(tmpl []byte, refsJSON string, certs map[string][]byte) ([]byte, error) {
	if refsJSON == "" {
		return tmpl, nil
	}
	var refs []rawRef
	if err := json.Unmarshal([]byte(refsJSON), &refs); err != nil {
		return nil, fmt.Errorf("raw_refs: %w", err)
	}
	var out []byte
	last := 0
	for _, r := range refs {
		der, ok := certs[r.Cert]
		if !ok {
			return nil, fmt.Errorf("certificate %s is missing from the certificates table", r.Cert)
		}
		if r.Off < last || r.Off > len(tmpl) || !validEOL(r.Style.EOL) || !validEOL(r.Style.Head) || !validEOL(r.Style.Tail) || !validEOL(r.Style.Final) {
			return nil, fmt.Errorf("raw_refs: bad reference at offset %d", r.Off)
		}
		out = append(out, tmpl[last:r.Off]...)
		out = append(out, r.Style.render(der)...)
		last = r.Off
	}
	return append(out, tmpl[last:]...), nil
}

// refCerts lists the certificates of a raw_refs column.
func refCerts(refsJSON string) ([]string, error) {
	if refsJSON == "" {
		return nil, nil
	}
	var refs []rawRef
	if err := json.Unmarshal([]byte(refsJSON), &refs); err != nil {
		return nil, fmt.Errorf("raw_refs: %w", err)
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Cert
	}
	return out, nil
}
