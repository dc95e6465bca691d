package trust

import (
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
