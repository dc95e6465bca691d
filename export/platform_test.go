package export

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// okhttp3Matches is Pin.matches of OkHttp 3.13.1 (okhttp/src/main/java/
// okhttp3/CertificatePinner.java), and of 4.0 to 4.2.2 (CertificatePinner.kt,
// the same logic), for the canonical (lower-case) host OkHttp passes in. The
// pin's host is HttpUrl.get("http://" + pattern).host(), which lower-cases
// and drops an IPv6 literal's brackets.
func okhttp3Matches(pattern, host string) bool {
	const wildcard = "*."
	if strings.HasPrefix(pattern, wildcard) {
		canonical := strings.ToLower(pattern[len(wildcard):])
		firstDot := strings.Index(host, ".")
		// (hostname.length() - firstDot - 1) == canonicalHostname.length()
		// && hostname.regionMatches(false, firstDot + 1, canonicalHostname, 0, length)
		return len(host)-firstDot-1 == len(canonical) && host[firstDot+1:] == canonical
	}
	return host == strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(pattern, "["), "]"))
}

// okhttp43Matches is Pin.matches of OkHttp 4.3.0 (CertificatePinner.kt).
func okhttp43Matches(pattern, host string) bool {
	switch {
	case strings.HasPrefix(pattern, "**."):
		// With ** empty prefixes match so exclude the dot from regionMatches().
		suffixLength := len(pattern) - 3
		prefixLength := len(host) - suffixLength
		return prefixLength >= 0 && host[prefixLength:] == pattern[3:] &&
			(prefixLength == 0 || host[prefixLength-1] == '.')
	case strings.HasPrefix(pattern, "*."):
		// With * there must be a prefix so include the dot in regionMatches().
		suffixLength := len(pattern) - 1
		prefixLength := len(host) - suffixLength
		return prefixLength >= 0 && host[prefixLength:] == pattern[1:] &&
			!strings.Contains(host[:max(prefixLength, 0)], ".")
	default:
		return host == pattern
	}
}

// platformRow is one row of the "Platform semantics" table of docs/export.md.
type platformRow struct {
	line                                  int
	platform, kind, written, at, does, by string
}

func readPlatformTable(t *testing.T) []platformRow {
	t.Helper()
	b, err := os.ReadFile("../docs/export.md")
	if err != nil {
		t.Fatalf("the platform semantics table lives in docs/export.md: %v", err)
	}
	var rows []platformRow
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "## Platform semantics"):
			in = true
			continue
		case in && strings.HasPrefix(line, "## "):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| platform ") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 6 {
			t.Fatalf("docs/export.md:%d: %d cells, want 6: %q", i+1, len(cells), line)
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(strings.ReplaceAll(cells[j], "`", ""))
		}
		rows = append(rows, platformRow{i + 1, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]})
	}
	return rows
}

var atRE = regexp.MustCompile(`^(\S+) @ ([+-]\d+)$`)

// TestPlatformSemanticsTable runs every row of the table in docs/export.md.
func TestPlatformSemanticsTable(t *testing.T) {
	rows := readPlatformTable(t)
	if len(rows) < 40 {
		t.Fatalf("only %d rows read from docs/export.md; the parser or the table is broken", len(rows))
	}
	rules := map[string]expiryRule{"android-nsc": expiryAndroid, "trustkit-android": expiryTrustKitAndroid, "trustkit-ios": expiryTrustKitIOS}
	for _, r := range rows {
		if r.by == "" {
			t.Errorf("docs/export.md:%d: no source cited", r.line)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("docs/export.md:%d (%s %s %q at %q): "+format, append([]any{r.line, r.platform, r.kind, r.written, r.at}, args...)...)
		}
		switch r.kind {
		case "match":
			want := map[string]bool{"pinned": true, "not pinned": false}
			exp, ok := want[r.does]
			if !ok {
				fail("want pinned or not pinned, got %q", r.does)
				continue
			}
			var got bool
			switch r.platform {
			case "okhttp-3.13.1", "okhttp-4.2.2":
				got = okhttp3Matches(r.written, r.at)
			case "okhttp-4.3.0":
				got = okhttp43Matches(r.written, r.at)
			case "android-nsc", "trustkit-android", "trustkit-ios", "ios-ats":
				base, flag, _ := strings.Cut(r.written, " ")
				pat, err := policy.ParsePattern(base, false)
				if err != nil {
					fail("%v", err)
					continue
				}
				e := keyed{host: host{Policy: policy.Policy{Pattern: base}, pat: pat}, includeSubdomains: flag == "includeSubdomains"}
				got = platformCover([]keyed{e}, r.at, r.platform == "ios-ats") != ""
			default:
				fail("no model for platform %q", r.platform)
				continue
			}
			if got != exp {
				fail("the model says pinned=%v, the table %q", got, r.does)
			}
		case "expiry":
			rule, ok := rules[r.platform]
			m := atRE.FindStringSubmatch(r.at)
			if !ok || m == nil {
				fail("want a platform with an expiry rule and at as INSTANT @ ±HOURS")
				continue
			}
			date, err1 := time.Parse(time.DateOnly, r.written)
			now, err2 := time.Parse(time.RFC3339, m[1])
			hours, err3 := strconv.Atoi(m[2])
			if err1 != nil || err2 != nil || err3 != nil {
				fail("%v %v %v", err1, err2, err3)
				continue
			}
			got := rule.enforcedAt(date, hours*3600, now)
			if got != (r.does == "enforced") {
				fail("the rule says enforced=%v, the table %q", got, r.does)
			}
			// Whatever the zone, the window that stops() reports holds the stop.
			first, last := rule.stops(date)
			if now.Before(first) && !got || now.After(last) && got {
				fail("outside the window %v..%v the rule gives enforced=%v", first, last, got)
			}
		case "date":
			rule, ok := rules[r.platform]
			until, err := time.Parse(time.RFC3339, r.written)
			if !ok || err != nil {
				fail("want a platform with an expiry rule and an RFC 3339 instant: %v", err)
				continue
			}
			d := rule.dateFor(until)
			if got := d.Format(time.DateOnly); got != r.does {
				fail("dateFor writes %s, the table %s", got, r.does)
			}
			// The written date is enforced at until in every zone, and the
			// day before would not be.
			for off := -12; off <= 14; off++ {
				if !rule.enforcedAt(d, off*3600, until) {
					fail("%s is not enforced at %v at UTC%+d", d.Format(time.DateOnly), until, off)
				}
			}
			prev := d.AddDate(0, 0, -1)
			ok = true
			for off := -12; off <= 14; off++ {
				ok = ok && rule.enforcedAt(prev, off*3600, until)
			}
			if ok {
				fail("an earlier date (%s) would do: dateFor is not the first", prev.Format(time.DateOnly))
			}
		case "domain":
			var why string
			switch r.platform {
			case "trustkit-android":
				why = trustKitAndroidRefuses(r.written)
			case "trustkit-ios":
				why = trustKitRefuses(r.written)
			default:
				fail("no start-up check for platform %q", r.platform)
				continue
			}
			if got := map[bool]string{true: "refused", false: "accepted"}[why != ""]; got != r.does {
				fail("export says %s (%s), the table %s", got, why, r.does)
			}
		case "minimum":
			version := map[string]int{"okhttp-3": OkHttp3, "okhttp-4": OkHttp4}[r.platform]
			res, err := Export("okhttp", Input{OkHttpVersion: version, Policies: []policy.Policy{
				{Pattern: r.written, Pins: []pin.Pin{fakePin("min 1"), fakePin("min 2")}},
			}})
			if err != nil {
				fail("%v", err)
				continue
			}
			if want := "// Needs OkHttp " + r.does + " or later"; !strings.Contains(string(res.Data), want) {
				fail("the output does not say %q:\n%s", want, res.Data)
			}
		default:
			fail("unknown kind %q", r.kind)
		}
	}
}
