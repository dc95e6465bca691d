package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"http://127.0.0.1:1/v1/apps/x/pins.json", "http://127.0.0.1:1/v1/apps/x/pins.json"},
		{"http://user:SECRET@127.0.0.1:1/", "http://redacted@127.0.0.1:1/"},
		{"https://user@h/p?token=SECRET&a=b", "https://redacted@h/p?redacted"},
		{"https://h/p#access_token=SECRET", "https://h/p#redacted"},
		{"https://h/p?a=SECRET#frag", "https://h/p?redacted"},
		{`Get "http://user:***@127.0.0.1:1/base/roots/2.json?key=SECRET": dial tcp`, `Get "http://redacted@127.0.0.1:1/base/roots/2.json?redacted": dial tcp`},
		{"GET http://u:SECRET@h/pins.json: unexpected HTTP status 500", "GET http://redacted@h/pins.json: unexpected HTTP status 500"},
		{"see https://h/x?k=SECRET.", "see https://h/x?redacted."},
		{"two: http://a:SECRET@h1/ and ftp://b:SECRET@h2/x?y=SECRET", "two: http://redacted@h1/ and ftp://redacted@h2/x?redacted"},
		{"http://user:pa/ss@h/", "http://redacted@h/"},
		{"http://user:p@ss@h/", "http://redacted@h/"},
		{"://SECRET@x", "://SECRET@x"}, // no scheme: not a URL
		{"1://x", "1://x"},
		{`"http://u:SECRET@h"`, `"http://redacted@h"`},
		{"http://", "http://"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The error of a real net/http request to a URL with credentials and a
// token: Go hides the password but not the query; Error hides both and
// keeps the error chain.
func TestErrorKeepsChain(t *testing.T) {
	_, err := http.Get("http://user:SECRET@127.0.0.1:1/x?token=SECRET")
	if err == nil {
		t.Fatal("request to port 1 succeeded")
	}
	wrapped := fmt.Errorf("refresh: %w: %w", err, fs.ErrNotExist)
	r := Error(wrapped)
	if strings.Contains(r.Error(), "SECRET") || !strings.Contains(r.Error(), "127.0.0.1:1/x?redacted") {
		t.Errorf("Error() = %q", r)
	}
	if !errors.Is(r, fs.ErrNotExist) {
		t.Error("errors.Is lost the sentinel")
	}
	if Error(r) != r {
		t.Error("redacting twice wraps twice")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	plain := errors.New("plain")
	if Error(plain) != plain {
		t.Error("an error without URLs was wrapped")
	}
}

func FuzzText(f *testing.F) {
	f.Add("Get \"http://user:SECRET@127.0.0.1:1/x?token=SECRET\": refused")
	f.Add("https://h/p#a ftp://u@h")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if Text(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, Text(out))
		}
		// No user info, query or fragment survives in any URL of the
		// output (a URL runs from its scheme to a delimiter).
		for _, piece := range strings.FieldsFunc(out, func(r rune) bool { return r < 0x80 && isDelim(byte(r)) }) {
			i := strings.Index(piece, "://")
			if i < 0 {
				continue
			}
			start := i
			for start > 0 && isSchemeChar(piece[start-1]) {
				start--
			}
			if !strings.ContainsFunc(piece[start:i], func(r rune) bool { return isLetter(byte(r)) }) {
				continue
			}
			u := piece[i+3:]
			if q := strings.IndexAny(u, "?#"); q >= 0 {
				if !strings.HasPrefix(u[q+1:], Placeholder) {
					t.Fatalf("query left in %q (from %q)", out, s)
				}
				u = u[:q]
			}
			if at := strings.LastIndexByte(u, '@'); at >= 0 && u[:at] != Placeholder {
				t.Fatalf("user info left in %q (from %q)", out, s)
			}
		}
	})
}
