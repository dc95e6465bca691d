package tlog

import (
	"bytes"
	"testing"
)

// FuzzParseBundle: any bytes either fail to parse or re-encode to the
// same bytes (one encoding per bundle), and verification never panics.
func FuzzParseBundle(f *testing.F) {
	s := testSigner(f)
	m := buildLog(f, 9)
	cp := signed(f, m, s)
	for _, other := range []int64{0, 4, 9} {
		b, err := Prove(m, 9, 3, m.Records[3], cp, other)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b.Marshal())
	}
	f.Add([]byte("pinset-log-proof/v1\nindex 0\nrecord \ninclusion\n\n"))
	v := verifiers(f, s, nil, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		if got := b.Marshal(); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded differently:\n%q\n%q", data, got)
		}
		VerifyBundle(v, data, "com.example.app", KindManifest, 4, []byte("m4"), Checkpoint{})
	})
}

// FuzzParseRecord: a parsed record re-encodes to the same bytes.
func FuzzParseRecord(f *testing.F) {
	f.Add(record(f, KindManifest, 7, "x"))
	f.Add(record(f, KindRoot, 1, ""))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		got, err := r.Marshal()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("re-encoded differently (%v):\n%q\n%q", err, data, got)
		}
	})
}

// FuzzOpenCheckpoint: signed checkpoints either fail or yield a
// checkpoint whose body is in the note.
func FuzzOpenCheckpoint(f *testing.F) {
	s := testSigner(f)
	v := verifiers(f, s, nil, 0)
	f.Add(signed(f, buildLog(f, 3), s))
	f.Add([]byte(origin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := v.Open(data)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, c.Body()) {
			t.Fatalf("checkpoint %+v is not the note's text", c)
		}
	})
}

// FuzzParseAddCheckpoint: an add-checkpoint body either fails to parse or
// re-encodes to the same bytes, and a witness's decision on it never
// panics; a witness answer either fails or adds signatures to the note.
func FuzzParseAddCheckpoint(f *testing.F) {
	s := testSigner(f)
	m := buildLog(f, 9)
	cp := signed(f, m, s)
	p, err := ProveConsistency(m, 9, 4)
	if err != nil {
		f.Fatal(err)
	}
	f.Add((&AddCheckpoint{OldSize: 4, Proof: p, Checkpoint: cp}).Marshal())
	f.Add((&AddCheckpoint{Checkpoint: cp}).Marshal())
	f.Add([]byte("old 0\n\n"))
	w, err := ParseWitnessKey(cosigner(f, "witness.example", testKey(11), 1767225600).VerifierKey())
	if err != nil {
		f.Fatal(err)
	}
	prev, _ := m.Checkpoint(origin)
	f.Fuzz(func(t *testing.T, data []byte) {
		AddCosignatures(cp, data, w)
		a, err := ParseAddCheckpoint(data)
		if err != nil {
			return
		}
		if got := a.Marshal(); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded differently:\n%q\n%q", data, got)
		}
		CheckWitnessConsistency(prev, prev, a)
	})
}
