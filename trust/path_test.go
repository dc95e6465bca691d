package trust

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestJPath: paths are spelled as before they were built lazily.
func TestJPath(t *testing.T) {
	cases := []struct {
		p    jpath
		want string
	}{
		{top, ""},
		{top.dot("hosts"), "hosts"},
		{top.dot("hosts").at(3), "hosts[3]"},
		{top.dot("hosts").at(3).dot("pins").at(12), "hosts[3].pins[12]"},
		{top.dot("roles").dot("root").dot("keyids").at(0), "roles.root.keyids[0]"},
		{top.dot("signatures").at(1).dot("sig"), "signatures[1].sig"},
	}
	for _, c := range cases {
		if got := c.p.String(); got != c.want {
			t.Errorf("path %q, want %q", got, c.want)
		}
	}
}

// TestDecodeErrorPaths: errors deep in a manifest name the JSON path and
// the offset of the offending value.
func TestDecodeErrorPaths(t *testing.T) {
	const head = `{"app_id":"a","version":1,"root_version":1,"issued_at":"2026-01-01T00:00:00Z","expires":"2026-02-01T00:00:00Z","hosts":[`
	cases := []struct {
		hosts, path, reason string
	}{
		{`{"pattern":"a.example","pins":["` + pin44 + `"]},{"pattern":"b.example","pins":[1]}`, "hosts[1].pins[0]", "expected a string"},
		{`{"pattern":"a.example","pins":[],"Report_only":true}`, "hosts[0].Report_only", "differs in case"},
		{`{"pattern":"a.example","pins":[],"extra":1}`, "hosts[0].extra", "unknown field"},
		{`{"pattern":7,"pins":[]}`, "hosts[0].pattern", "expected a string"},
	}
	for _, c := range cases {
		doc := head + c.hosts + "]}"
		_, err := DecodeManifest([]byte(doc))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %v, want a DecodeError", c.hosts, err)
			continue
		}
		if de.Path != c.path || !strings.Contains(de.Reason, c.reason) || de.Offset <= 0 || de.Offset >= len(doc) {
			t.Errorf("%s: path %q offset %d reason %q, want path %q and %q", c.hosts, de.Path, de.Offset, de.Reason, c.path, c.reason)
		}
	}
}

// pin44 is a pin spelled in standard base64 (all zero bytes).
var pin44 = strings.Repeat("A", 43) + "="

// stringStopSlow is stringStop one byte at a time.
func stringStopSlow(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

// TestStringStop: the word-at-a-time scan finds the same byte as the
// byte-at-a-time one, for every stop byte at every position and offset,
// next to bytes that could confuse the bit trick (0x80-0xff, 0x20-0x22,
// 0x5b-0x5d, 0x01, 0x7f).
func TestStringStop(t *testing.T) {
	stops := []byte{'"', '\\', 0x00, 0x01, 0x1f, '\n'}
	fill := []byte{'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	for _, f := range fill {
		for n := 0; n < 40; n++ {
			b := bytes.Repeat([]byte{f}, n)
			for start := 0; start <= n; start++ {
				if got, want := stringStop(b, start), stringStopSlow(b, start); got != want {
					t.Fatalf("fill %#x, len %d, start %d: %d, want %d", f, n, start, got, want)
				}
			}
			for at := 0; at < n; at++ {
				for _, s := range stops {
					c := bytes.Clone(b)
					c[at] = s
					if at+1 < n {
						c[at+1] = s ^ 0x01 // a near miss after the stop
					}
					for start := 0; start <= n; start++ {
						if got, want := stringStop(c, start), stringStopSlow(c, start); got != want {
							t.Fatalf("fill %#x, stop %#x at %d of %d, start %d: %d, want %d", f, s, at, n, start, got, want)
						}
					}
				}
			}
		}
	}
}

// FuzzStringStop holds the two scans equal on any bytes.
func FuzzStringStop(f *testing.F) {
	f.Add([]byte(`abc"def`), 0)
	f.Add([]byte("\xff\xfe\x80\\x"), 1)
	f.Fuzz(func(t *testing.T, b []byte, start int) {
		if start < 0 || start > len(b) {
			return
		}
		if got, want := stringStop(b, start), stringStopSlow(b, start); got != want {
			t.Fatalf("%q from %d: %d, want %d", b, start, got, want)
		}
	})
}
