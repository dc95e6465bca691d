package tlog

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestAddCheckpointFormat: the C2SP tlog-witness request body round-trips,
// and what the spec forbids is refused.
func TestAddCheckpointFormat(t *testing.T) {
	s := testSigner(t)
	m := buildLog(t, 9)
	cp := signed(t, m, s)
	p, err := ProveConsistency(m, 9, 4)
	if err != nil || len(p) == 0 {
		t.Fatalf("proof: %v %d", err, len(p))
	}
	a := &AddCheckpoint{OldSize: 4, Proof: p, Checkpoint: cp}
	got, err := ParseAddCheckpoint(a.Marshal())
	if err != nil || got.OldSize != 4 || len(got.Proof) != len(p) || !bytes.Equal(got.Checkpoint, cp) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	h := b64(p[0][:])
	for name, body := range map[string]string{
		"leading zero":         "old 04\n" + h + "\n\n" + string(cp),
		"proof from size zero": "old 0\n" + h + "\n\n" + string(cp),
		"short hash":           "old 4\nAAAA\n\n" + string(cp),
		"no empty line":        "old 4\n" + string(cp),
		"not old":              "new 4\n\n" + string(cp),
		"64 proof lines":       "old 4\n" + string(bytes.Repeat([]byte(h+"\n"), 64)) + "\n" + string(cp),
	} {
		if _, err := ParseAddCheckpoint([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if n, err := ParseSizeLine([]byte("42\n")); n != 42 || err != nil {
		t.Fatalf("size line: %d %v", n, err)
	}
	for _, b := range []string{"42", "042\n", "-1\n", "4 2\n", ""} {
		if _, err := ParseSizeLine([]byte(b)); err == nil {
			t.Errorf("size line %q accepted", b)
		}
	}
}

// TestWitnessConsistencyRules: the witness's checks of C2SP tlog-witness
// (old size above the checkpoint: 400; old size not the latest cosigned:
// 409; same size, other hash: 409, a fork; proof that does not verify: 422).
func TestWitnessConsistencyRules(t *testing.T) {
	m := buildLog(t, 9)
	c4, _ := m.TreeHash(4)
	prev := Checkpoint{Origin: origin, Size: 4, Hash: c4}
	c, _ := m.Checkpoint(origin)
	p, _ := ProveConsistency(m, 9, 4)
	if err := CheckWitnessConsistency(prev, c, &AddCheckpoint{OldSize: 4, Proof: p}); err != nil {
		t.Fatalf("consistent: %v", err)
	}
	if err := CheckWitnessConsistency(Checkpoint{}, c, &AddCheckpoint{}); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	if err := CheckWitnessConsistency(prev, c, &AddCheckpoint{OldSize: 10}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("old above size: %v", err)
	}
	if err := CheckWitnessConsistency(prev, c, &AddCheckpoint{OldSize: 3}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale old size: %v", err)
	}
	forked := buildLog(t, 4)
	forked.Append(record(t, KindManifest, 99, "evil"))
	for forked.Size() < 9 {
		forked.Append(record(t, KindManifest, uint64(forked.Size()+100), "x"))
	}
	fc, _ := forked.Checkpoint(origin)
	fp, _ := ProveConsistency(forked, 9, 4)
	if err := CheckWitnessConsistency(c, fc, &AddCheckpoint{OldSize: 9}); !errors.Is(err, ErrFork) {
		t.Fatalf("same size, other hash: %v, want ErrFork", err)
	}
	// The fork shares the first 4 entries, so its proof from 4 verifies
	// against a witness that saw only 4; after 5 it does not.
	c5, _ := m.TreeHash(5)
	fp5, _ := ProveConsistency(forked, 9, 5)
	if err := CheckWitnessConsistency(Checkpoint{Origin: origin, Size: 5, Hash: c5}, fc, &AddCheckpoint{OldSize: 5, Proof: fp5}); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("fork after 5: %v, want ErrInconsistent", err)
	}
	if err := CheckWitnessConsistency(prev, fc, &AddCheckpoint{OldSize: 4, Proof: fp}); err != nil {
		t.Fatalf("common prefix: %v", err)
	}
}

// TestAddCosignatures: a witness's answer adds its verified cosignature to
// the note (which then meets a threshold of 1); lines by other keys are
// dropped, a forged one refuses the answer.
func TestAddCosignatures(t *testing.T) {
	s := testSigner(t)
	m := buildLog(t, 3)
	cp := signed(t, m, s)
	w1 := cosigner(t, "witness-1.example", testKey(11), 1767225600)
	w2 := cosigner(t, "witness-2.example", testKey(12), 1767225600)
	c, _ := m.Checkpoint(origin)
	l1, _ := w1.Cosign(c.Body())
	l2, _ := w2.Cosign(c.Body())
	v := verifiers(t, s, []string{w1.VerifierKey(), w2.VerifierKey()}, 1)
	wv1, err := ParseWitnessKey(w1.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(cp); !errors.Is(err, ErrSignature) {
		t.Fatalf("without cosignature: %v", err)
	}
	got, n, err := AddCosignatures(cp, append(append([]byte{}, l1...), l2...), wv1)
	if err != nil || n != 1 {
		t.Fatalf("add: %d %v", n, err)
	}
	if bytes.Contains(got, l2) {
		t.Fatal("w2's line was carried by w1's answer and kept")
	}
	if _, err := v.Open(got); err != nil {
		t.Fatalf("with w1's cosignature: %v", err)
	}
	again, n, err := AddCosignatures(got, l1, wv1)
	if err != nil || n != 0 || !bytes.Equal(again, got) {
		t.Fatalf("twice: %d %v", n, err)
	}
	bad := cosigner(t, w1.Name(), testKey(99), 1)
	fn, _ := note.Sign(&note.Note{Text: string(c.Body())}, &badHash{bad, w1.KeyHash()})
	lb := fn[len(c.Body())+1:]
	if _, _, err := AddCosignatures(cp, lb, wv1); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged: %v, want ErrSignature", err)
	}
	if _, _, err := AddCosignatures(cp, []byte("ok\n"), wv1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not signature lines: %v", err)
	}
}

// countingVerifier counts signature verifications.
type countingVerifier struct {
	note.Verifier
	n int
}

func (c *countingVerifier) Verify(msg, sig []byte) bool { c.n++; return c.Verifier.Verify(msg, sig) }

// TestOpenCachesAccepted: Verifiers.Open verifies the signatures of a
// given note once (a client restoring its checkpoint and then the proof
// carrying the same note), keeps at most maxOpened notes, and does not
// keep refusals.
func TestOpenCachesAccepted(t *testing.T) {
	s := testSigner(t)
	lv, err := ParseLogKey(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cv := &countingVerifier{Verifier: lv}
	v := &Verifiers{Log: cv}
	m := buildLog(t, 3)
	cp := signed(t, m, s)
	for range 3 {
		if _, err := v.Open(cp); err != nil {
			t.Fatal(err)
		}
	}
	if cv.n != 1 {
		t.Fatalf("the same note verified %d times, want 1", cv.n)
	}
	for i := range maxOpened {
		m.Append(record(t, KindManifest, uint64(10+i), "more"))
		if _, err := v.Open(signed(t, m, s)); err != nil {
			t.Fatal(err)
		}
	}
	cv.n = 0
	if _, err := v.Open(cp); err != nil || cv.n != 1 {
		t.Fatalf("after %d other notes: %d verifications (%v), want the first evicted and verified again", maxOpened, cv.n, err)
	}
	other, _ := NewSigner(origin, testKey(2))
	bad := signed(t, m, other)
	for range 2 {
		if _, err := v.Open(bad); !errors.Is(err, ErrSignature) {
			t.Fatalf("another key: %v", err)
		}
	}
}
