package probe

import "testing"

// FuzzParseResolve: any input gives a map or an error, never a panic; what
// parses names a valid IP under a "host:port" key.
func FuzzParseResolve(f *testing.F) {
	for _, s := range []string{"api.example.com:443:127.0.0.2", "api.example.com:443:[::1]", "a:0:1.2.3.4", "::::", "x:443:", "ä.example:443:127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseResolve([]string{s})
		if err != nil {
			return
		}
		if len(m) != 1 {
			t.Fatalf("%q: %d keys", s, len(m))
		}
	})
}
