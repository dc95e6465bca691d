package scan

import (
	"fmt"
	"sort"
	"strings"

	"pinset.dev/pinset/scan/internal/urls"
)

// MaxURLFindings bounds the hard-coded http:// URL findings of one
// artifact. The URLs past it are counted in one more finding, so nothing
// is dropped silently.
const MaxURLFindings = 200

// urlFindings adds one finding (rule id) per distinct URL of hits, at the
// first entry it was found in (entries in name order) and saying in how
// many others, listing at most MaxURLFindings in the report's order
// (entry, then URL); one further finding counts the URLs not listed and
// the occurrences urls.Find did not keep. Linear in hits, plus a sort.
func urlFindings(r *Report, id, file string, hits []urls.Hit) {
	type group struct {
		key   string // entry, NUL, URL: the sort key, built once
		entry string
		url   string
		files int
	}
	byURL := make(map[string]int, len(hits))
	var groups []group
	omitted, omittedIn := 0, map[string]bool{}
	for _, h := range hits {
		if h.Omitted > 0 {
			omitted += h.Omitted
			omittedIn[h.File] = true
		}
		if i, ok := byURL[h.URL]; ok {
			g := &groups[i]
			g.files++
			if h.File < g.entry {
				g.entry = h.File
			}
			continue
		}
		byURL[h.URL] = len(groups)
		groups = append(groups, group{entry: h.File, url: h.URL, files: 1})
	}
	for i := range groups {
		groups[i].key = groups[i].entry + "\x00" + groups[i].url
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].key < groups[j].key })

	listed := min(len(groups), MaxURLFindings)
	for _, g := range groups[:listed] {
		more := ""
		if g.files > 1 {
			more = fmt.Sprintf(" (and in %d other files)", g.files-1)
		}
		r.add(newFinding(id, keep, Location{File: file, Entry: g.entry}, "%s%s", g.url, more))
	}
	var parts []string
	if rest := groups[listed:]; len(rest) > 0 {
		entries := map[string]bool{}
		for _, g := range rest {
			entries[g.entry] = true
		}
		parts = append(parts, fmt.Sprintf("%d more distinct http:// URLs in %s are not listed (at most %d are listed per artifact)",
			len(rest), entriesN(len(entries)), MaxURLFindings))
	}
	if omitted > 0 {
		parts = append(parts, fmt.Sprintf("%d occurrences of further URLs in %s were not examined (at most %d distinct URLs are kept per entry)",
			omitted, entriesN(len(omittedIn)), urls.MaxPerFile))
	}
	if len(parts) > 0 {
		r.add(newFinding(id, keep, Location{File: file}, "%s", strings.Join(parts, "; ")))
	}
}

func entriesN(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}
