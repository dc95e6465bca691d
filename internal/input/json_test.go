package input

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	type req struct {
		A string `json:"a"`
		B int    `json:"b"`
	}
	for body, want := range map[string]error{
		`{"a":"x","b":1}`:   nil,
		` {"a":"x"} `:       nil,
		``:                  io.EOF,
		"  \n":              io.EOF,
		`{"a":"x","c":1}`:   ErrMalformed, // unknown key
		`{"a":"x","a":"y"}`: ErrMalformed, // a key twice
		`{"a":"x"} {}`:      ErrMalformed, // data after the value
		`{"a":"x"}garbage`:  ErrMalformed,
		`{"a":1}`:           ErrMalformed, // wrong type
		`{"a":"` + strings.Repeat("x", 64) + `"}`: ErrTooLarge,
	} {
		var v req
		err := DecodeJSON(strings.NewReader(body), 40, &v)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%.30q: %v, want %v", body, err, want)
		}
	}
}
