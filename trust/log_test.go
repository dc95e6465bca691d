package trust_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// loggedRepo returns a repository whose root v1 names log lg, with root
// v1 and manifest v1 appended to it, and the bundled state.
func loggedRepo(t *testing.T, seed uint64) (*trusttest.Repo, *trusttest.Log, *trust.State) {
	t.Helper()
	lg := trusttest.NewLog(app, byte(seed))
	repo := trusttest.New(app, seed)
	repo.Log = lg.TrustLog()
	// Re-issue root v1 and manifest v1 under the root that names the log.
	repo.Roots, repo.Manifests, repo.ManifestVersion = nil, nil, 0
	repo.PublishRootSignedBy(repo.RootDoc(1), repo.RootKeys[:repo.RootThreshold]...)
	repo.PublishManifest(nil)
	lg.Append(tlog.KindRoot, 1, repo.Root())
	lg.AppendManifest(repo.Manifest())
	return repo, lg, bundled(t, repo)
}

// TestLogNotLoggedRefused: under a root that names a log, a validly signed
// manifest that is absent from the log is refused, with or without a
// proof of something else; the trusted state stays.
func TestLogNotLoggedRefused(t *testing.T) {
	repo, lg, st := loggedRepo(t, 40)
	now := repo.Now.Add(day)
	m2 := repo.PublishManifest(nil)

	_, err := st.UpdateManifest(m2, now)
	mustErr(t, err, trust.ErrNotLogged)
	_, err = st.UpdateManifestWithProof(m2, nil, now)
	mustErr(t, err, trust.ErrNotLogged)
	// A proof of the manifest before it (entry 1) offered for m2.
	_, err = st.UpdateManifestWithProof(m2, lg.Proof(1, 0), now)
	mustErr(t, err, trust.ErrNotLogged)
	// m2 with the same version but other bytes is logged; m2 is not.
	other := repo.Sign(trust.PayloadTypeManifest, []byte(payloadOf(t, m2)), repo.PinsKeys[1], repo.PinsKeys[2])
	i := lg.AppendManifest(other)
	_, err = st.UpdateManifestWithProof(m2, lg.Proof(i, 0), now)
	mustErr(t, err, trust.ErrNotLogged)
	// Garbage as a proof.
	_, err = st.UpdateManifestWithProof(m2, []byte("pinset-log-proof/v1\n"), now)
	mustErr(t, err, trust.ErrNotLogged)

	// Logged: accepted, and the checkpoint is kept.
	i = lg.AppendManifest(m2)
	next, err := st.UpdateManifestWithProof(m2, lg.Proof(i, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(next.Checkpoint(), lg.Checkpoint()) || next.ManifestProof() == nil {
		t.Fatal("checkpoint or proof not kept")
	}
	// The service's pre-log verification needs no proof.
	if _, err := st.PreLog().UpdateManifest(repo.PublishManifest(nil), now); err != nil {
		t.Fatalf("PreLog: %v", err)
	}
}

// TestLogConsistency: the state keeps the newest checkpoint and accepts a
// later one only with a consistency proof from it; a forked log (another
// checkpoint of the same size) is ErrLogFork, a forked larger log fails
// its consistency proof.
func TestLogConsistency(t *testing.T) {
	repo, lg, st := loggedRepo(t, 41)
	now := repo.Now.Add(day)
	m2 := repo.PublishManifest(nil)
	st, err := st.UpdateManifestWithProof(m2, lg.Proof(lg.AppendManifest(m2), 0), now)
	if err != nil {
		t.Fatal(err)
	}
	held := lg.Mem.Size() // 3

	m3 := repo.PublishManifest(nil)
	i3 := lg.AppendManifest(m3)
	lg.Append(tlog.KindRoot, 2, []byte("a later root"))
	_, err = st.UpdateManifestWithProof(m3, lg.Proof(i3, 0), now)
	mustErr(t, err, trust.ErrLogInconsistent)
	st3, err := st.UpdateManifestWithProof(m3, lg.Proof(i3, held), now)
	if err != nil {
		t.Fatalf("with a consistency proof: %v", err)
	}

	// The same size, another history: a fork.
	fork := lg.Fork(held - 1)
	m3f := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[:2]...)
	fi := fork.AppendManifest(m3f)
	_, err = st.UpdateManifestWithProof(m3f, fork.Proof(fi, 0), now)
	mustErr(t, err, trust.ErrLogFork)
	if !strings.Contains(err.Error(), "ALARM") {
		t.Errorf("a fork is not reported as an alarm: %v", err)
	}
	// A larger forked tree cannot prove consistency with the held one.
	fork.Append(tlog.KindRoot, 2, []byte("r"))
	_, err = st.UpdateManifestWithProof(m3f, fork.Proof(fi, held), now)
	mustErr(t, err, trust.ErrLogInconsistent)

	if !bytes.Equal(st3.Checkpoint(), lg.Checkpoint()) {
		t.Fatal("the newest checkpoint is not kept")
	}
}

// TestLogCheckpointSignatures: a checkpoint by another key, or without
// the witness threshold, is ErrLogCheckpoint.
func TestLogCheckpointSignatures(t *testing.T) {
	repo, lg, st := loggedRepo(t, 42)
	now := repo.Now.Add(day)
	m2 := repo.PublishManifest(nil)
	i := lg.AppendManifest(m2)
	impostor := trusttest.NewLog(app, 99)
	impostor.Mem = lg.Mem
	_, err := st.UpdateManifestWithProof(m2, impostor.Proof(i, 0), now)
	mustErr(t, err, trust.ErrLogCheckpoint)

	// A root requiring one of two witnesses.
	w1 := trusttest.NewLog("witness-1", 50)
	w2 := trusttest.NewLog("witness-2", 51)
	repo.Log = &trust.Log{Key: lg.Signer.VerifierKey(), Witnesses: []string{w1.Signer.VerifierKey(), w2.Signer.VerifierKey()}, WitnessThreshold: 1}
	r2 := repo.PublishRoot()
	st2, err := st.UpdateRoot(r2, now)
	if err != nil {
		t.Fatal(err)
	}
	m3 := repo.PublishManifest(nil)
	i = lg.AppendManifest(m3)
	_, err = st2.UpdateManifestWithProof(m3, lg.Proof(i, 0), now)
	mustErr(t, err, trust.ErrLogCheckpoint)
	lg.Cosigners = append(lg.Cosigners, w2.Signer)
	if _, err = st2.UpdateManifestWithProof(m3, lg.Proof(i, 0), now); err != nil {
		t.Fatalf("cosigned by 1 of 2: %v", err)
	}
}

// TestLogRootWithoutLog: a root that names no log keeps today's
// behaviour; a proof, if any, is ignored.
func TestLogRootWithoutLog(t *testing.T) {
	repo := trusttest.New(app, 43)
	st := bundled(t, repo)
	m2 := repo.PublishManifest(nil)
	if _, err := st.UpdateManifest(m2, repo.Now.Add(day)); err != nil {
		t.Fatal(err)
	}
	if next, err := st.UpdateManifestWithProof(m2, []byte("garbage"), repo.Now.Add(day)); err != nil || next.Checkpoint() != nil {
		t.Fatalf("%v", err)
	}
}

// TestLogRestore: a cached manifest under a logged root is restored with
// its proof and checkpoint, and refused without them.
func TestLogRestore(t *testing.T) {
	repo, lg, st := loggedRepo(t, 44)
	now := repo.Now.Add(day)
	m2 := repo.PublishManifest(nil)
	acc, err := st.UpdateManifestWithProof(m2, lg.Proof(lg.AppendManifest(m2), 0), now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.RestoreLogged(nil, m2, acc.ManifestProof(), acc.Checkpoint())
	if err != nil || got.Manifest().Version != 2 || !bytes.Equal(got.Checkpoint(), acc.Checkpoint()) {
		t.Fatalf("RestoreLogged: %v", err)
	}
	_, err = st.Restore(nil, m2)
	mustErr(t, err, trust.ErrNotLogged)
	other := trusttest.NewLog(app, 98)
	other.Mem = lg.Mem
	_, err = st.RestoreLogged(nil, m2, acc.ManifestProof(), other.Checkpoint())
	mustErr(t, err, trust.ErrLogCheckpoint)
}

// TestLogRootDecoding: the root's log member is decoded strictly.
func TestLogRootDecoding(t *testing.T) {
	lg := trusttest.NewLog(app, 45)
	repo := trusttest.New(app, 45)
	repo.Log = lg.TrustLog()
	doc := repo.RootDoc(1)
	good := trusttest.EncodeRoot(doc)
	r, err := trust.DecodeRoot(good)
	if err != nil || r.Log == nil || r.Log.Key != lg.Signer.VerifierKey() {
		t.Fatalf("round trip: %v", err)
	}
	cosig := "witness.example+" + "00000000" + "+BA" + strings.Repeat("A", 42) + "="
	cases := []struct {
		name, from, to string
		want           error
	}{
		{"unknown field", `"key": `, `"url": "https://x", "key": `, trust.ErrMalformed},
		{"bad key", lg.Signer.VerifierKey(), "log+00000000+AQ==", trust.ErrInvalidDocument},
		{"threshold 0", `"key": `, `"witness_threshold": 0, "key": `, trust.ErrInvalidDocument},
		{"threshold without witnesses", `"key": `, `"witness_threshold": 1, "key": `, trust.ErrInvalidDocument},
		{"witness hash wrong", `"key": `, `"witnesses": ["` + cosig + `"], "witness_threshold": 1, "key": `, trust.ErrInvalidDocument},
		{"key as number", `"key": "` + lg.Signer.VerifierKey() + `"`, `"key": 1`, trust.ErrMalformed},
	}
	for _, c := range cases {
		b := []byte(strings.Replace(string(good), c.from, c.to, 1))
		if bytes.Equal(b, good) {
			t.Fatalf("%s: no change", c.name)
		}
		_, err := trust.DecodeRoot(b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
