package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust/trusttest"
	"pinset.dev/pinset/witness"
)

func newWitness(t *testing.T, state string, logs ...*trusttest.Log) (*witness.Witness, *tlog.Cosigner) {
	t.Helper()
	c, err := tlog.NewCosigner("witness.example.test/w1", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32)),
		func() time.Time { return trusttest.Epoch })
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range logs {
		keys = append(keys, l.Signer.VerifierKey())
	}
	w, err := witness.New(witness.Config{Cosigner: c, Logs: keys, State: state})
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

func grow(l *trusttest.Log, n int64) {
	for l.Mem.Size() < n {
		l.Append("manifest", uint64(l.Mem.Size()+1), []byte{byte(l.Mem.Size())})
	}
}

// request is an add-checkpoint body for l's whole tree from size old.
func request(t *testing.T, l *trusttest.Log, old int64) []byte {
	t.Helper()
	p, err := tlog.ProveConsistency(&l.Mem, l.Mem.Size(), old)
	if err != nil {
		t.Fatal(err)
	}
	return (&tlog.AddCheckpoint{OldSize: old, Proof: p, Checkpoint: l.Checkpoint()}).Marshal()
}

// TestWitnessCosignsConsistent: the witness cosigns a log's first
// checkpoint and each one consistent with it; its cosignature meets a
// root's witness threshold; a stale old size is a conflict naming the
// size it holds (C2SP tlog-witness 409).
func TestWitnessCosignsConsistent(t *testing.T) {
	l := trusttest.NewLog("com.example.app", 7)
	grow(l, 3)
	w, c := newWitness(t, "", l)
	sig, err := w.AddCheckpoint(request(t, l, 0))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifiers(l.Signer.VerifierKey(), []string{c.VerifierKey()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	wv, _ := tlog.ParseWitnessKey(c.VerifierKey())
	cosigned, n, err := tlog.AddCosignatures(l.Checkpoint(), sig, wv)
	if err != nil || n != 1 {
		t.Fatalf("cosignature: %d %v", n, err)
	}
	if _, err := v.Open(cosigned); err != nil {
		t.Fatalf("the cosigned checkpoint under a threshold of 1: %v", err)
	}
	grow(l, 10)
	if _, err := w.AddCheckpoint(request(t, l, 3)); err != nil {
		t.Fatalf("consistent growth: %v", err)
	}
	if got := w.Latest(l.Signer.Name()); got.Size != 10 {
		t.Fatalf("latest %d, want 10", got.Size)
	}
	grow(l, 11)
	var conflict *witness.ConflictError
	if _, err := w.AddCheckpoint(request(t, l, 3)); !errors.As(err, &conflict) || conflict.Size != 10 {
		t.Fatalf("stale old size: %v, want a conflict at 10", err)
	}
}

// TestWitnessRefusesFork: a checkpoint of a size the witness cosigned
// with another root hash is a conflict wrapping tlog.ErrFork, a forked
// tree that grew past it fails the consistency proof (422), and a witness
// restarted from its state file still refuses the fork.
func TestWitnessRefusesFork(t *testing.T) {
	l := trusttest.NewLog("com.example.app", 7)
	grow(l, 5)
	state := filepath.Join(t.TempDir(), "witness.json")
	w, _ := newWitness(t, state, l)
	if _, err := w.AddCheckpoint(request(t, l, 0)); err != nil {
		t.Fatal(err)
	}
	fork := l.Fork(4)
	fork.Append("manifest", 99, []byte("attacker's pins"))
	if _, err := w.AddCheckpoint(request(t, fork, 5)); !errors.Is(err, tlog.ErrFork) || witness.Status(err) != http.StatusConflict {
		t.Fatalf("same size, other hash: %v, want a 409 wrapping ErrFork", err)
	}
	grow(fork, 8)
	if _, err := w.AddCheckpoint(request(t, fork, 5)); !errors.Is(err, witness.ErrInconsistent) || witness.Status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("grown fork: %v, want 422", err)
	}
	w2, _ := newWitness(t, state, l)
	if got := w2.Latest(l.Signer.Name()); got != w.Latest(l.Signer.Name()) {
		t.Fatalf("restarted witness holds %+v, want %+v", got, w.Latest(l.Signer.Name()))
	}
	if _, err := w2.AddCheckpoint(request(t, fork, 5)); !errors.Is(err, witness.ErrInconsistent) {
		t.Fatalf("restarted witness, grown fork: %v", err)
	}
}

// TestWitnessHTTP: the C2SP tlog-witness answers over HTTP on loopback.
func TestWitnessHTTP(t *testing.T) {
	l := trusttest.NewLog("com.example.app", 7)
	grow(l, 3)
	other := trusttest.NewLog("com.example.other", 8)
	grow(other, 3)
	impostor := trusttest.NewLog("com.example.app", 9) // same origin, another key
	grow(impostor, 3)
	w, _ := newWitness(t, "", l)
	srv := httptest.NewServer(w)
	defer srv.Close()
	post := func(body []byte) (int, string, string) {
		resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := post(request(t, l, 0)); code != 200 || !strings.HasPrefix(body, "— witness.example.test/w1 ") {
		t.Fatalf("first: %d %q", code, body)
	}
	if code, ct, body := post(request(t, l, 2)); code != 409 || ct != tlog.SizeContentType || body != "3\n" {
		t.Fatalf("conflict: %d %s %q", code, ct, body)
	}
	if code, _, _ := post(request(t, other, 0)); code != 404 {
		t.Fatalf("unknown log: %d", code)
	}
	if code, _, _ := post(request(t, impostor, 3)); code != 403 {
		t.Fatalf("another key: %d", code)
	}
	if code, _, _ := post([]byte("old 01\n\n")); code != 400 {
		t.Fatalf("malformed: %d", code)
	}
	if code, _, _ := post(bytes.Repeat([]byte("x"), tlog.MaxAddCheckpointSize+1)); code != 413 {
		t.Fatalf("too large: %d", code)
	}
}

// TestWitnessAtomic: requests racing from the same old size cannot roll
// the witness back (C2SP tlog-witness: check and record are one step):
// exactly one is cosigned, the others get a conflict naming its size.
func TestWitnessAtomic(t *testing.T) {
	l := trusttest.NewLog("com.example.app", 7)
	grow(l, 5)
	w, _ := newWitness(t, filepath.Join(t.TempDir(), "state.json"), l)
	if _, err := w.AddCheckpoint(request(t, l, 0)); err != nil {
		t.Fatal(err)
	}
	var reqs [][]byte
	for n := int64(6); n <= 13; n++ {
		grow(l, n)
		reqs = append(reqs, request(t, l, 5))
	}
	errs := make(chan error, len(reqs))
	for _, r := range reqs {
		go func() { _, err := w.AddCheckpoint(r); errs <- err }()
	}
	ok := 0
	for range reqs {
		err := <-errs
		var conflict *witness.ConflictError
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &conflict):
			t.Errorf("a racing request: %v, want a conflict", err)
		}
	}
	latest := w.Latest(l.Signer.Name())
	if ok != 1 || latest.Size < 6 {
		t.Fatalf("%d cosigned, latest size %d; want exactly 1 and no rollback to 5", ok, latest.Size)
	}
}
