package trust

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

// TestSignedMessageDigest: the streamed SHA-256 of the PAE bytes equals
// the hash of PAE built in full, for empty, short and long payloads and
// payload types, and bytes() is exactly PAE.
func TestSignedMessageDigest(t *testing.T) {
	types := []string{"", "x", PayloadTypeManifest, strings.Repeat("t", 200)}
	payloads := [][]byte{nil, {}, []byte("{}"), bytes.Repeat([]byte("0123456789"), 1500)}
	for _, typ := range types {
		for _, p := range payloads {
			want := sha256.Sum256(PAE(typ, p))
			m := signedMessage{payloadType: typ, payload: p}
			if got := m.digest(); !bytes.Equal(got, want[:]) {
				t.Errorf("type %.10q, payload of %d bytes: streamed digest %x, want %x", typ, len(p), got, want)
			}
			m2 := signedMessage{payloadType: typ, payload: p}
			if got := m2.bytes(); !bytes.Equal(got, PAE(typ, p)) {
				t.Errorf("type %.10q, payload of %d bytes: bytes() is not PAE", typ, len(p))
			}
			if got := m2.digest(); !bytes.Equal(got, want[:]) {
				t.Errorf("type %.10q, payload of %d bytes: digest after bytes() %x, want %x", typ, len(p), got, want)
			}
		}
	}
}
