package pki

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// NewDeterministicRand returns a reader of bytes derived only from seed
// (SHA-256 in counter mode). Use it as Template.Rand in tests that need the
// same keys, pins and serial numbers on every run. It is not a secure source
// of randomness for anything else.
func NewDeterministicRand(seed string) io.Reader {
	return &detRand{seed: sha256.Sum256([]byte(seed))}
}

type detRand struct {
	seed [32]byte
	ctr  uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var in [40]byte
			copy(in[:], r.seed[:])
			binary.BigEndian.PutUint64(in[32:], r.ctr)
			r.ctr++
			sum := sha256.Sum256(in[:])
			r.buf = sum[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return n, nil
}
