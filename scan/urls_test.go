package scan

import (
	"fmt"
	"strings"
	"testing"

	"pinset.dev/pinset/scan/internal/urls"
	"pinset.dev/pinset/scan/ipa"
)

func urlFindingsOf(r *Report, id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.RuleID == id {
			out = append(out, f)
		}
	}
	return out
}

// 400 entries of 500 distinct URLs each: at most MaxURLFindings are listed,
// in entry then URL order, and one more finding counts the rest. (Each
// finding used to be compared with every earlier one: minutes for this.)
func TestURLFindingsCapped(t *testing.T) {
	var hits []urls.Hit
	for f := range 400 {
		for u := range 500 {
			hits = append(hits, urls.Hit{File: fmt.Sprintf("Payload/App.app/f%03d.json", f), URL: fmt.Sprintf("http://h%03d.f%03d.example.com/", u, f), Count: 1})
		}
	}
	// One URL in two entries is one finding, at the first entry by name.
	hits = append(hits, urls.Hit{File: "Payload/App.app/App", URL: "http://h000.f000.example.com/", Count: 3})
	app := &ipa.App{File: "App.ipa", Format: "ipa", PlistEntry: "Payload/App.app/Info.plist", Info: &ipa.Info{}, URLs: hits}
	r := IOS(app, Options{Now: fixed})
	got := urlFindingsOf(r, "IOS-HTTP-URL")
	if len(got) != MaxURLFindings+1 {
		t.Fatalf("%d URL findings, want %d listed and one summary", len(got), MaxURLFindings)
	}
	summary := got[0] // no entry: sorts first
	if summary.Location != (Location{File: "App.ipa"}) ||
		summary.Message != fmt.Sprintf("%d more distinct http:// URLs in 400 entries are not listed (at most %d are listed per artifact)", 400*500-MaxURLFindings, MaxURLFindings) {
		t.Fatalf("summary %+v", summary)
	}
	first := got[1]
	if first.Location.Entry != "Payload/App.app/App" || first.Message != "http://h000.f000.example.com/ (and in 1 other files)" {
		t.Fatalf("first %+v", first)
	}
	if last := got[len(got)-1]; last.Location.Entry != "Payload/App.app/f000.json" || last.Message != "http://h199.f000.example.com/" {
		t.Fatalf("last %+v", last)
	}
}

// Under the cap, every URL is listed and no summary is added; URLs that
// urls.Find did not keep (over its per-entry limit) are counted.
func TestURLFindingsOmittedPerEntry(t *testing.T) {
	var b strings.Builder
	for u := range urls.MaxPerFile + 7 {
		fmt.Fprintf(&b, "http://h%d.example.com/ ", u)
	}
	hits := urls.Find("classes.dex", []byte(b.String()))
	if len(hits) != urls.MaxPerFile || hits[len(hits)-1].Omitted != 7 {
		t.Fatalf("%d hits, last %+v", len(hits), hits[len(hits)-1])
	}
	app := &ipa.App{File: "App.ipa", Format: "ipa", Info: &ipa.Info{}, URLs: hits[:3:3]}
	r := IOS(app, Options{Now: fixed})
	if got := urlFindingsOf(r, "IOS-HTTP-URL"); len(got) != 3 {
		t.Fatalf("findings %+v", got)
	}
	app.URLs = hits
	r = IOS(app, Options{Now: fixed})
	got := urlFindingsOf(r, "IOS-HTTP-URL")
	want := fmt.Sprintf("%d more distinct http:// URLs in 1 entry are not listed (at most %d are listed per artifact); "+
		"7 occurrences of further URLs in 1 entry were not examined (at most %d distinct URLs are kept per entry)",
		urls.MaxPerFile-MaxURLFindings, MaxURLFindings, urls.MaxPerFile)
	if len(got) != MaxURLFindings+1 || got[0].Message != want {
		t.Fatalf("%d findings, summary %q\nwant %q", len(got), got[0].Message, want)
	}
}
