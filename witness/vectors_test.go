package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/witness"
)

// Witness test vectors: testdata/witness/*.txt, one add-checkpoint request
// per file, for any witness implementation (docs/trust.md section 12,
// "Witnesses"):
//
//	expect: cosigned | 400 | 403 | 404 | 409 | 422
//	comment: what the case shows
//	log-key: <the log's verifier key, the one log the witness knows>
//	witness-key: <the witness's cosignature/v1 verifier key>
//	time: <Unix time the witness stamps>
//	latest: <size> <base64 root hash> | none    (the witness's state for the log)
//
//	--- request
//	<the add-checkpoint body>
//	--- answer                                   (with expect cosigned, 200: the cosignature lines; with 409: the size line)
//	<bytes>
//
// The witness's key is Ed25519 from the seed 32 bytes of 0x2a, so the
// cosignature lines are exact. Regenerate with:
// go test ./witness -run TestWitnessVectors -update

var update = flag.Bool("update", false, "rewrite testdata/witness from the generator")

const vectorDir = "../testdata/witness"

const vectorTime = 1767225600 // 2026-01-01T00:00:00Z

type wvector struct {
	name, expect, comment string
	logKey                string
	latest                tlog.Checkpoint
	request, answer       []byte
}

func (v *wvector) encode(witnessKey string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\nlog-key: %s\nwitness-key: %s\ntime: %d\n", v.expect, v.comment, v.logKey, witnessKey, vectorTime)
	if v.latest.Size == 0 {
		b.WriteString("latest: none\n")
	} else {
		fmt.Fprintf(&b, "latest: %d %s\n", v.latest.Size, v.latest.Hash)
	}
	fmt.Fprintf(&b, "\n--- request\n%s", v.request)
	if v.answer != nil {
		fmt.Fprintf(&b, "--- answer\n%s", v.answer)
	}
	return b.Bytes()
}

func vectorCosigner(t testing.TB) *tlog.Cosigner {
	c, err := tlog.NewCosigner("witness.example.test/w1", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x2a}, 32)),
		func() time.Time { return time.Unix(vectorTime, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run asks a witness holding v.latest (through its state file) and
// returns the verdict and the answer body.
func (v *wvector) run(t *testing.T) (string, []byte) {
	state := filepath.Join(t.TempDir(), "state.json")
	if v.latest.Size > 0 {
		s := fmt.Sprintf(`{"format": "pinset-witness-state-v1", "logs": {%q: {"size": %d, "root_hash": %q}}}`, v.latest.Origin, v.latest.Size, v.latest.Hash.String())
		if err := os.WriteFile(state, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w, err := witness.New(witness.Config{Cosigner: vectorCosigner(t), Logs: []string{v.logKey}, State: state})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := w.AddCheckpoint(v.request)
	var conflict *witness.ConflictError
	switch {
	case err == nil:
		return "cosigned", sig
	case errors.As(err, &conflict):
		return "409", fmt.Appendf(nil, "%d\n", conflict.Size)
	default:
		return fmt.Sprint(witness.Status(err)), nil
	}
}

func parseWVector(b []byte) (map[string]string, map[string][]byte, error) {
	head, body, ok := bytes.Cut(b, []byte("\n\n--- request\n"))
	if !ok {
		return nil, nil, errors.New("no request section")
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(head), "\n") {
		k, val, ok := strings.Cut(l, ": ")
		if !ok {
			return nil, nil, fmt.Errorf("header line %q", l)
		}
		fields[k] = val
	}
	secs := map[string][]byte{}
	req, ans, hasAns := bytes.Cut(body, []byte("--- answer\n"))
	secs["request"] = req
	if hasAns {
		secs["answer"] = ans
	}
	return fields, secs, nil
}

// TestWitnessVectors regenerates testdata/witness with -update; without
// it, it runs every file on disk against package witness and checks that
// the files are the generator's cases.
func TestWitnessVectors(t *testing.T) {
	vs := generateWitnessVectors(t)
	wkey := vectorCosigner(t).VerifierKey()
	if *update {
		old, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
		for _, f := range old {
			os.Remove(f)
		}
		os.MkdirAll(vectorDir, 0o755)
		for _, v := range vs {
			if err := os.WriteFile(filepath.Join(vectorDir, v.name+".txt"), v.encode(wkey), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if len(files) != len(vs) {
		t.Fatalf("%d files in %s, the generator has %d cases (go test ./witness -run TestWitnessVectors -update)", len(files), vectorDir, len(vs))
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			disk, err := os.ReadFile(filepath.Join(vectorDir, v.name+".txt"))
			if err != nil || !bytes.Equal(disk, v.encode(wkey)) {
				t.Fatalf("missing or stale on disk (go test ./witness -run TestWitnessVectors -update): %v", err)
			}
			f, secs, err := parseWVector(disk)
			if err != nil || f["expect"] != v.expect || !bytes.Equal(secs["request"], v.request) {
				t.Fatalf("does not parse back: %v", err)
			}
			got, ans := v.run(t)
			if got != v.expect || !slices.Equal(ans, v.answer) && v.answer != nil {
				t.Fatalf("%s\nexpected %s %q, got %s %q", v.comment, v.expect, v.answer, got, ans)
			}
		})
	}
}

func generateWitnessVectors(t testing.TB) []*wvector {
	const app = "com.example.app"
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	signer, err := tlog.NewSigner("pins.example.test/"+app, key)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := tlog.NewSigner("pins.example.test/"+app, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)))
	unknownSigner, _ := tlog.NewSigner("pins.example.test/com.example.other", key)
	rec := func(v uint64, body string) []byte {
		b, err := tlog.NewRecord(app, tlog.KindManifest, v, []byte(body), time.Unix(vectorTime, 0)).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	real, fork := &tlog.Memory{}, &tlog.Memory{}
	for i := 1; i <= 9; i++ {
		real.Append(rec(uint64(i), fmt.Sprintf("manifest %d", i)))
		if i <= 4 {
			fork.Append(rec(uint64(i), fmt.Sprintf("manifest %d", i)))
		} else {
			fork.Append(rec(uint64(i), fmt.Sprintf("attacker's manifest %d", i)))
		}
	}
	cpAt := func(m *tlog.Memory, n int64) tlog.Checkpoint {
		h, err := m.TreeHash(n)
		if err != nil {
			t.Fatal(err)
		}
		return tlog.Checkpoint{Origin: signer.Name(), Size: n, Hash: h}
	}
	sign := func(s *tlog.Signer, c tlog.Checkpoint) []byte {
		c.Origin = s.Name()
		b, err := s.SignCheckpoint(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := func(m *tlog.Memory, old int64, s *tlog.Signer) []byte {
		p, err := tlog.ProveConsistency(m, m.Size(), old)
		if err != nil {
			t.Fatal(err)
		}
		return (&tlog.AddCheckpoint{OldSize: old, Proof: p, Checkpoint: sign(s, cpAt(m, m.Size()))}).Marshal()
	}
	c := vectorCosigner(t)
	var out []*wvector
	add := func(name, expect, comment string, latest tlog.Checkpoint, request []byte) {
		v := &wvector{name: fmt.Sprintf("%03d-%s", len(out)+1, name), expect: expect, comment: comment, logKey: signer.VerifierKey(), latest: latest, request: request}
		switch expect {
		case "cosigned":
			ck, err := tlog.ParseAddCheckpoint(request)
			if err != nil {
				t.Fatal(err)
			}
			body, _, _ := bytes.Cut(ck.Checkpoint, []byte("\n\n"))
			if v.answer, err = c.Cosign(append(body, '\n')); err != nil {
				t.Fatal(err)
			}
		case "409":
			v.answer = fmt.Appendf(nil, "%d\n", latest.Size)
		}
		out = append(out, v)
	}
	none := tlog.Checkpoint{}
	add("first-checkpoint", "cosigned", "the witness has seen nothing of this log: old 0, no proof", none, req(real, 0, signer))
	add("consistent", "cosigned", "old 4, a consistency proof from 4 to 9 that verifies", cpAt(real, 4), req(real, 4, signer))
	add("same-checkpoint", "cosigned", "the checkpoint the witness cosigned last, again", cpAt(real, 9), req(real, 9, signer))
	add("stale-old-size", "409", "old 4, but the witness last cosigned size 9: it answers with 9", cpAt(real, 9), req(real, 4, signer))
	add("fork-same-size", "409", "size 9 with another root hash than the one cosigned (a fork): refused", cpAt(real, 9), req(fork, 9, signer))
	add("fork-grown", "422", "the witness cosigned 5 of the real log; the fork shares only 4 entries, so no proof from 5 verifies", cpAt(real, 5), req(fork, 5, signer))
	add("old-above-size", "400", "old 10 above the checkpoint's 9", cpAt(real, 9), append([]byte("old 10\n\n"), sign(signer, cpAt(real, 9))...))
	add("proof-from-zero", "400", "a proof line with old 0", none, append([]byte("old 0\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\n"), sign(signer, cpAt(real, 9))...))
	add("unknown-log", "404", "a checkpoint of a log the witness does not witness", none, req(real, 0, unknownSigner))
	add("other-key", "403", "the log's origin, signed by another key", none, req(real, 0, otherSigner))
	return out
}
