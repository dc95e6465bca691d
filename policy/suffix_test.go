package policy

import (
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
)

// TestPublicSuffixGuard: wildcards and include-subdomains are refused where
// they would cover a public suffix, and the typed error names the guard
// rule, the suffix and the list's section. Rules of the list cited:
// "*.kawasaki.jp" and "!city.kawasaki.jp" (ICANN section),
// "s3.amazonaws.com" and "*.compute.amazonaws.com" (private section).
func TestPublicSuffixGuard(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		sub     bool
		rule    SuffixRule // 0: accepted
		suffix  string
		section string
	}{
		{"*.com", false, SuffixBase, "com", "ICANN"},
		{"com", true, SuffixBase, "com", "ICANN"},
		{"*.test", false, SuffixBase, "test", "default"},
		{"**.s3.amazonaws.com", false, SuffixBase, "s3.amazonaws.com", "private"},
		{"**.x.kawasaki.jp", false, SuffixBase, "x.kawasaki.jp", "ICANN"},
		{"*.kawasaki.jp", false, SuffixNextLevel, "*.kawasaki.jp", "ICANN"},
		{"**.kawasaki.jp", false, SuffixNextLevel, "*.kawasaki.jp", "ICANN"},
		{"kawasaki.jp", true, SuffixNextLevel, "*.kawasaki.jp", "ICANN"},
		{"*.compute.amazonaws.com", false, SuffixNextLevel, "*.compute.amazonaws.com", "private"},
		{"**.compute.amazonaws.com", false, SuffixNextLevel, "*.compute.amazonaws.com", "private"},
		{"**.amazonaws.com", false, SuffixBelow, "s3.amazonaws.com", "private"},
		{"amazonaws.com", true, SuffixBelow, "s3.amazonaws.com", "private"},
		{"**.blogspot.com", false, SuffixBase, "blogspot.com", "private"},
		// Accepted.
		{"*.amazonaws.com", false, 0, "", ""},     // one label: s3.amazonaws.com as one host, not the sites under it
		{"**.city.kawasaki.jp", false, 0, "", ""}, // exception rule !city.kawasaki.jp
		{"**.shop.x.kawasaki.jp", false, 0, "", ""},
		{"kawasaki.jp", false, 0, "", ""}, // an exact host is never refused
		{"amazonaws.com", false, 0, "", ""},
		{"**.example.com", false, 0, "", ""},
		{"**.example.test", false, 0, "", ""},
	} {
		pol := Policy{Pattern: tc.pattern, IncludeSubdomains: tc.sub, Pins: []pin.Pin{testPin(1), testPin(2)}}
		_, err := NewSet([]Policy{pol})
		if tc.rule == 0 {
			if err != nil {
				t.Errorf("%q (include-subdomains %v) refused: %v", tc.pattern, tc.sub, err)
			}
			continue
		}
		var pse *PublicSuffixError
		if !errors.As(err, &pse) || !errors.Is(err, ErrPublicSuffix) {
			t.Errorf("%q (include-subdomains %v): %v, want a *PublicSuffixError", tc.pattern, tc.sub, err)
			continue
		}
		if pse.Rule != tc.rule || pse.Suffix != tc.suffix || pse.Section != tc.section || pse.Pattern != tc.pattern {
			t.Errorf("%q (include-subdomains %v): rule %v, suffix %q, section %q; want %v, %q, %q", tc.pattern, tc.sub, pse.Rule, pse.Suffix, pse.Section, tc.rule, tc.suffix, tc.section)
		}
		for _, part := range []string{tc.pattern, tc.suffix, tc.rule.String(), "public suffix"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%q: message %q does not name %q", tc.pattern, err, part)
			}
		}
	}
}
