package apk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestDecodeGuarded: both decoders of untrusted bytes run through one
// guard: bytes validate refuses never reach the decoder, and a panic of
// the decoder is ErrMalformed naming what was decoded, not a crash.
func TestDecodeGuarded(t *testing.T) {
	refused := errors.New("refused by validate")
	called := false
	_, err := decodeGuarded("thing", []byte("x"), func([]byte) error { return refused }, func(*bytes.Reader) (int, error) {
		called = true
		return 1, nil
	})
	if !errors.Is(err, refused) || called {
		t.Errorf("validate's refusal: %v, decoder called %v", err, called)
	}
	v, err := decodeGuarded("thing", []byte("x"), func([]byte) error { return nil }, func(*bytes.Reader) (*Table, error) {
		panic("index out of range")
	})
	if v != nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "thing decoder failed: index out of range") {
		t.Errorf("panic: %v, %v", v, err)
	}
}
