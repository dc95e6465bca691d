package ecdsakey

import (
	"bytes"
	"crypto/elliptic"
	"errors"
	"io"
	"math/big"
	"testing"
)

// The key is the first valid scalar the reader gives: the same bytes give
// the same key, for each curve at its own size.
func TestFromReaderDeterministic(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		size := (c.Params().BitSize + 7) / 8
		seed := bytes.Repeat([]byte{7}, size)
		k, err := FromReader(c, bytes.NewReader(seed))
		if err != nil {
			t.Fatalf("%s: %v", c.Params().Name, err)
		}
		if k.Curve != c || k.D.Cmp(new(big.Int).SetBytes(seed)) != 0 {
			t.Errorf("%s: key is not the scalar read", c.Params().Name)
		}
	}
}

// A scalar that is zero or not below the order is skipped, and the next
// one read is used.
func TestFromReaderSkipsInvalidScalars(t *testing.T) {
	c := elliptic.P256()
	in := append(make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)...) // zero, then above the order
	in = append(in, bytes.Repeat([]byte{1}, 32)...)
	k, err := FromReader(c, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if k.D.Cmp(new(big.Int).SetBytes(bytes.Repeat([]byte{1}, 32))) != 0 {
		t.Error("the third scalar was not the key")
	}
}

// A source that runs out, or gives only invalid scalars, is an error that
// says so (never a key from fewer bytes, never a loop without end).
func TestFromReaderErrors(t *testing.T) {
	_, err := FromReader(elliptic.P256(), bytes.NewReader(make([]byte, 10)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = FromReader(elliptic.P256(), bytes.NewReader(make([]byte, 32*MaxTries)))
	if !errors.Is(err, ErrNoScalar) {
		t.Errorf("only zero scalars: %v, want ErrNoScalar", err)
	}
}
