package tlog

import (
	"errors"
	"strings"
	"testing"
)

// TestSplitHead: the layout proof bundles and add-checkpoint requests share
// (header lines, an empty line, the checkpoint) is refused over its cap,
// without the empty line, with a line count its caller refuses (before the
// lines are read), and with an empty or non-ASCII header line.
func TestSplitHead(t *testing.T) {
	accept := func(int) error { return nil }
	lines, cp, err := splitHead("test", []byte("a 1\nb 2\n\ncheckpoint\n"), 100, accept)
	if err != nil || strings.Join(lines, "|") != "a 1|b 2" || string(cp) != "checkpoint\n" {
		t.Fatalf("split: %q %q %v", lines, cp, err)
	}
	tooMany := errors.New("too many")
	counted := 0
	for name, c := range map[string]struct {
		body  string
		max   int
		count func(int) error
		want  string
	}{
		"over the cap":  {"a\n\ncp\n", 5, accept, "over the cap of 5"},
		"no empty line": {"a\ncp\n", 100, accept, "no empty line"},
		"count refused": {"a\nb\nc\n\ncp\n", 100, func(n int) error { counted = n; return tooMany }, "too many"},
		"empty line":    {"\n\n\ncp\n", 100, accept, "empty"},
		"not ASCII":     {"a\tb\n\ncp\n", 100, accept, "not printable ASCII"},
	} {
		_, _, err := splitHead("test", []byte(c.body), c.max, c.count)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if name != "count refused" && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", name, err)
		}
	}
	if counted != 3 {
		t.Errorf("count saw %d header lines, want 3", counted)
	}
}
