package check_test

import (
	"testing"

	"pinset.dev/pinset/check"
)

// FuzzParseTarget: never a panic; a parsed target has a port in range and
// re-parses to itself.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"api.example.com", "api.example.com:8443", "[::1]:443", "::1", "a:b:c", "[", "EXAMPLE.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := check.ParseTarget(s, 443)
		if err != nil {
			return
		}
		if tg.Port < 1 || tg.Port > 65535 {
			t.Fatalf("%q: port %d", s, tg.Port)
		}
		again, err := check.ParseTarget(tg.String(), 443)
		if err != nil || again != tg {
			t.Fatalf("%q -> %v -> %v, %v", s, tg, again, err)
		}
	})
}
