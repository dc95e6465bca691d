package trust

import (
	"errors"
	"testing"
)

// TestContainerSeparators: after a member of an object or an array comes a
// comma or the container's own closing byte; anything else, or the end of
// the input, is refused at that offset with a reason naming the container.
func TestContainerSeparators(t *testing.T) {
	for doc, c := range map[string]struct {
		offset int
		reason string
	}{
		`{"a":1`:        {6, "unexpected end of input in an object"},
		`{"a":1]`:       {6, "expected ',' or '}' in an object"},
		`{"a":1 "b":2}`: {7, "expected ',' or '}' in an object"},
		`[1`:            {2, "unexpected end of input in an array"},
		`[1}`:           {2, "expected ',' or ']' in an array"},
		`[1,2 3]`:       {5, "expected ',' or ']' in an array"},
	} {
		_, err := parseStrict("doc", []byte(doc), 1<<10)
		var de *DecodeError
		if !errors.As(err, &de) || de.Offset != c.offset || de.Reason != c.reason || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want %q at %d", doc, err, c.reason, c.offset)
		}
	}
	for _, doc := range []string{`{"a":[1,{"b":[]}],"c":{}}`, `[[],{},[1,2]]`} {
		if _, err := parseStrict("doc", []byte(doc), 1<<10); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}
