package tlog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const origin = "pins.example.test/com.example.app"

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func testSigner(t testing.TB) *Signer {
	s, err := NewSigner(origin, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cosigner returns a witness key stamping cosignatures with time t.
func cosigner(t testing.TB, name string, key ed25519.PrivateKey, at int64) *Cosigner {
	c, err := NewCosigner(name, key, func() time.Time { return time.Unix(at, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func record(t testing.TB, kind string, v uint64, env string) []byte {
	b, err := NewRecord("com.example.app", kind, v, []byte(env), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildLog appends n manifests "m1".."mN" and returns the log.
func buildLog(t testing.TB, n int) *Memory {
	m := &Memory{}
	for i := 1; i <= n; i++ {
		if _, err := m.Append(record(t, KindManifest, uint64(i), fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func signed(t testing.TB, m *Memory, s note.Signer, extra ...note.Signer) []byte {
	c, err := m.Checkpoint(origin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := note.Sign(&note.Note{Text: string(c.Body())}, append([]note.Signer{s}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifiers(t testing.TB, s *Signer, witnesses []string, k int) *Verifiers {
	v, err := NewVerifiers(s.VerifierKey(), witnesses, k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRecordRoundTrip(t *testing.T) {
	b := record(t, KindManifest, 7, "envelope")
	r, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Matches("com.example.app", KindManifest, 7, []byte("envelope")) || r.Matches("com.example.app", KindManifest, 7, []byte("envelopf")) {
		t.Fatal("Matches")
	}
	for _, bad := range []string{
		strings.Replace(string(b), "version 7", "version 07", 1),
		strings.Replace(string(b), "kind manifest", "kind pins", 1),
		strings.Replace(string(b), "app com", "app  com", 1),
		strings.Replace(string(b), "Z\n", "+00:00\n", 1),
		string(b) + "extra 1\n",
		strings.TrimSuffix(string(b), "\n"),
		strings.ToUpper(string(b[:20])) + string(b[20:]),
	} {
		if _, err := ParseRecord([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRecord(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestBundleInclusionAndConsistency(t *testing.T) {
	s := testSigner(t)
	v := verifiers(t, s, nil, 0)
	m := buildLog(t, 5)
	cp5 := signed(t, m, s)
	c5, err := v.Open(cp5)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 2 (manifest v3) in the tree of 5, no held checkpoint.
	b, err := Prove(m, 5, 2, m.Records[2], cp5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 3, []byte("m3"), Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	// Other bytes with the same version: not in the log.
	if _, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 3, []byte("m3'"), Checkpoint{}); !errors.Is(err, ErrInclusion) {
		t.Fatalf("other bytes: %v, want ErrInclusion", err)
	}
	// A wrong index: the proof does not lead to the root.
	b2 := *b
	b2.Index = 3
	if _, err := VerifyBundle(v, b2.Marshal(), "com.example.app", KindManifest, 3, []byte("m3"), Checkpoint{}); !errors.Is(err, ErrInclusion) {
		t.Fatalf("wrong index: %v, want ErrInclusion", err)
	}

	// The log grows to 9; a client holding size 5 gets a consistency proof.
	for i := 6; i <= 9; i++ {
		m.Append(record(t, KindManifest, uint64(i), fmt.Sprintf("m%d", i)))
	}
	cp9 := signed(t, m, s)
	b, err = Prove(m, 9, 8, m.Records[8], cp9, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 9, []byte("m9"), c5)
	if err != nil {
		t.Fatal(err)
	}
	if got.Checkpoint.Size != 9 {
		t.Fatalf("size %d", got.Checkpoint.Size)
	}
	// Without the consistency proof: refused.
	b.HasConsistency, b.Consistency = false, nil
	if _, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 9, []byte("m9"), c5); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("no consistency proof: %v, want ErrInconsistent", err)
	}
}

// TestFork: a log that shows two histories. Two checkpoints of the same
// size with different hashes are ErrFork; a larger tree that does not
// extend the held one fails its consistency proof.
func TestFork(t *testing.T) {
	s := testSigner(t)
	v := verifiers(t, s, nil, 0)
	a := buildLog(t, 4)
	held, _ := v.Open(signed(t, a, s))

	forked := buildLog(t, 3)
	forked.Append(record(t, KindManifest, 4, "rogue"))
	cpf := signed(t, forked, s)
	b, _ := Prove(forked, 4, 3, forked.Records[3], cpf, 0)
	if _, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 4, []byte("rogue"), held); !errors.Is(err, ErrFork) {
		t.Fatalf("same size: %v, want ErrFork", err)
	}
	forked.Append(record(t, KindManifest, 5, "m5"))
	cpf = signed(t, forked, s)
	b, _ = Prove(forked, 5, 4, forked.Records[4], cpf, 4)
	if _, err := VerifyBundle(v, b.Marshal(), "com.example.app", KindManifest, 5, []byte("m5"), held); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("larger fork: %v, want ErrInconsistent", err)
	}
}

func TestCheckpointSignatures(t *testing.T) {
	s := testSigner(t)
	m := buildLog(t, 3)
	w1 := cosigner(t, "witness-1.example", testKey(11), 1767225600)
	w2 := cosigner(t, "witness-2.example", testKey(12), 1767225600)
	w3skey, w3vkey, _ := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{13}, 64)), "witness-3.example")
	w3, _ := note.NewSigner(w3skey)
	v := verifiers(t, s, []string{w1.VerifierKey(), w2.VerifierKey(), w3vkey}, 2)

	if _, err := v.Open(signed(t, m, s, w1, w3)); err != nil {
		t.Fatalf("2 of 3 witnesses: %v", err)
	}
	if _, err := v.Open(signed(t, m, s, w1)); !errors.Is(err, ErrSignature) {
		t.Fatalf("1 of 2 witnesses: %v, want ErrSignature", err)
	}
	if _, err := v.Open(signed(t, m, w1, w2)); !errors.Is(err, ErrSignature) {
		t.Fatalf("witnesses without the log: %v, want ErrSignature", err)
	}
	other, _ := NewSigner(origin, testKey(2))
	if _, err := v.Open(signed(t, m, other)); !errors.Is(err, ErrSignature) {
		t.Fatalf("another key of the same name: %v, want ErrSignature", err)
	}
	// A cosignature under a named witness's name and key hash that does
	// not verify refuses the checkpoint.
	bad := &badHash{cosigner(t, w1.Name(), testKey(99), 1), w1.KeyHash()}
	if _, err := v.Open(signed(t, m, s, bad, w2, w3)); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged cosignature: %v, want ErrSignature", err)
	}
	// An origin other than the key's name.
	m2 := buildLog(t, 3)
	c, _ := m2.Checkpoint("other.example/app")
	sOther, _ := NewSigner("other.example/app", testKey(1))
	nb, _ := note.Sign(&note.Note{Text: string(c.Body())}, sOther)
	if _, err := v.Open(nb); !errors.Is(err, ErrSignature) {
		t.Fatalf("other origin: %v, want ErrSignature", err)
	}
	if _, err := NewVerifiers(s.VerifierKey(), []string{w1.VerifierKey(), w1.VerifierKey()}, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("witness twice: %v", err)
	}
	if _, err := NewVerifiers(s.VerifierKey(), []string{w1.VerifierKey()}, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("threshold 0 with witnesses: %v", err)
	}
	if _, err := NewVerifiers(w1.VerifierKey(), nil, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cosignature key as the log key: %v", err)
	}
}

func TestTilePaths(t *testing.T) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/234", "tile/1/000.p/7", "tile/entries/000.p/3", "tile/entries/x001/x234/067"} {
		tl, err := ParseTilePath(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if TilePath(tl) != p {
			t.Fatalf("%s: round trip %s", p, TilePath(tl))
		}
	}
	for _, p := range []string{"tile/8/0/000", "tile/data/000", "tile/0/0", "tile/0/001.p/0", "tile/0/000.p/256", "tile/entries/1234"} {
		if _, err := ParseTilePath(p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
	m := buildLog(t, 3)
	eb := EntryBundle(m.Records)
	got, err := ParseEntryBundle(eb, 3)
	if err != nil || len(got) != 3 || !bytes.Equal(got[1], m.Records[1]) {
		t.Fatalf("entry bundle: %v", err)
	}
	if _, err := ParseEntryBundle(eb, 2); err == nil {
		t.Fatal("bundle of 3 read as 2")
	}
}

type badHash struct {
	*Cosigner
	hash uint32
}

func (b *badHash) KeyHash() uint32 { return b.hash }
