// Package urls finds hard-coded http:// URLs in the bytes of app files:
// DEX and Mach-O string tables, resource tables, binary XML (UTF-16), plain
// text. XML namespace and DTD identifiers, which are never fetched, are
// skipped.
package urls

import (
	"bytes"
	"net"
	"net/url"
	"strings"
)

// Hit is one distinct URL found in one file.
type Hit struct {
	File  string // the entry it was found in
	URL   string
	Count int // occurrences in that file
	// Omitted, on the last hit of a file that holds more than MaxPerFile
	// distinct URLs, counts the occurrences of the URLs not kept.
	Omitted int
}

// MaxPerFile bounds the distinct URLs kept per file; the occurrences of
// the others are counted in the last hit's Omitted.
const MaxPerFile = 500

// ignoredHosts are identifiers, not endpoints: XML namespaces, schemas, DTDs.
var ignoredHosts = map[string]bool{
	"schemas.android.com":   true,
	"www.w3.org":            true,
	"w3.org":                true,
	"ns.adobe.com":          true,
	"xmlpull.org":           true,
	"www.xmlpull.org":       true,
	"purl.org":              true,
	"schemas.xmlsoap.org":   true,
	"schemas.microsoft.com": true,
	"xml.org":               true,
	"www.xml.org":           true,
	"xml.apache.org":        true,
	"java.sun.com":          true,
	"xmlns.jcp.org":         true,
}

// ignoredPrefixes are identifiers under hosts that also serve real content.
var ignoredPrefixes = []string{
	"http://www.apple.com/DTDs/",
	"http://apple.com/DTDs/",
	"http://www.apple.com/dtds/",
	"http://www.apache.org/licenses/",
	"http://ns.google.com/",
}

// Ignored reports whether u is a namespace or schema identifier.
func Ignored(u string) bool {
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	pu, err := url.Parse(u)
	if err != nil {
		return true
	}
	return ignoredHosts[strings.ToLower(pu.Hostname())]
}

var (
	marker8  = []byte("http://")
	marker16 = []byte("h\x00t\x00t\x00p\x00:\x00/\x00/\x00")
)

// Find returns the distinct http:// URLs in data, in order of first
// appearance, as hits for file.
func Find(file string, data []byte) []Hit {
	var hits []Hit
	index := map[string]int{}
	omitted := 0
	add := func(u string) {
		u = strings.TrimRight(u, ".,;:)'")
		if i, ok := index[u]; ok {
			hits[i].Count++
			return
		}
		if !plausible(u) || Ignored(u) {
			return
		}
		if len(hits) >= MaxPerFile {
			omitted++
			return
		}
		index[u] = len(hits)
		hits = append(hits, Hit{File: file, URL: u, Count: 1})
	}
	for rest := data; ; {
		i := bytes.Index(rest, marker8)
		if i < 0 {
			break
		}
		j := i + len(marker8)
		for j < len(rest) && j-i < 2048 && urlByte(rest[j]) {
			j++
		}
		add(string(rest[i:j]))
		rest = rest[j:]
	}
	for rest := data; ; {
		i := bytes.Index(rest, marker16)
		if i < 0 {
			break
		}
		var sb strings.Builder
		sb.WriteString("http://")
		j := i + len(marker16)
		for j+1 < len(rest) && sb.Len() < 2048 && rest[j+1] == 0 && urlByte(rest[j]) {
			sb.WriteByte(rest[j])
			j += 2
		}
		add(sb.String())
		rest = rest[j:]
	}
	if omitted > 0 {
		hits[len(hits)-1].Omitted = omitted
	}
	return hits
}

// urlByte reports whether c may appear in a URL (RFC 3986 unreserved,
// reserved and percent).
func urlByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// plausible keeps URLs with a real host: a dotted name, localhost or an IP.
func plausible(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := pu.Hostname()
	if h == "" {
		return false
	}
	if h == "localhost" || net.ParseIP(h) != nil {
		return true
	}
	if !strings.Contains(h, ".") || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
		return false
	}
	for _, c := range []byte(h) {
		if !(c == '-' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	// The last label of a real name is alphabetic (a TLD).
	tld := h[strings.LastIndexByte(h, '.')+1:]
	for _, c := range []byte(tld) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return len(tld) >= 2
}

// IsLocal reports whether host is a loopback or emulator address, where
// cleartext is a development convenience, not a leak.
func IsLocal(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch h {
	case "localhost", "127.0.0.1", "10.0.2.2", "10.0.3.2", "::1", "[::1]":
		return true
	}
	return strings.HasSuffix(h, ".localhost")
}
