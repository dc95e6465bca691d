package input

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge and ErrMalformed classify what DecodeJSON refuses.
var (
	ErrTooLarge  = errors.New("too large")
	ErrMalformed = errors.New("malformed JSON")
)

// DecodeJSON decodes one JSON value of at most limit bytes from r into v,
// strictly: unknown keys, a top-level key given twice (encoding/json keeps
// the last, another reader might keep the first) and anything after the
// value are refused (ErrMalformed); a longer body is ErrTooLarge. An empty
// body is io.EOF, so that an optional body can be told from a bad one.
// It is the one reader of request bodies that are not signed documents
// (those are trust's).
func DecodeJSON(r io.Reader, limit int, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) > limit {
		return fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return io.EOF
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	if dup := duplicateKey(b); dup != "" {
		return fmt.Errorf("%w: key %q appears twice", ErrMalformed, dup)
	}
	return nil
}

// duplicateKey returns a top-level key that appears twice in the object b
// ("" when none, or when b is not an object).
func duplicateKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
