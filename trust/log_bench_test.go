package trust_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"pinset.dev/pinset/internal/cputime"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// BenchmarkLogProofRatio measures what the transparency log adds to a
// manifest update on the client. In one loop, so that load from other
// processes falls on both alike: UpdateManifest of a 50-host manifest
// under a root without a log, and UpdateManifestWithProof of the same
// manifest under a root that names a log of 1000 entries, the client
// holding the checkpoint of 999 (an inclusion and a consistency proof, one
// Ed25519 checkpoint signature). Reports both and the overhead as a share
// of the plain update.
func BenchmarkLogProofRatio(b *testing.B) {
	for _, hosts := range []int{50, 2} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) { benchLogProof(b, hosts) })
	}
}

func benchLogProof(b *testing.B, hosts int) {
	plain, m, repo := benchManifestN(b, hosts)

	lg := trusttest.NewLog(app, 7)
	lrepo := trusttest.New(app, 500)
	lrepo.Hosts = trusttest.Hosts(hosts)
	lrepo.Log = lg.TrustLog()
	lrepo.Roots, lrepo.Manifests, lrepo.ManifestVersion = nil, nil, 0
	lrepo.PublishRootSignedBy(lrepo.RootDoc(1), lrepo.RootKeys[:2]...)
	lrepo.PublishManifest(nil)
	logged, err := trust.NewState(lrepo.Root(), lrepo.Manifest())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; lg.Mem.Size() < 998; i++ {
		lg.Append("root", uint64(i+1), []byte{byte(i), byte(i >> 8)})
	}
	lm := lrepo.PublishManifest(nil)
	lm0 := lrepo.Manifests[0]
	lg.AppendManifest(lm0)
	// The client holds the checkpoint of 999 entries.
	if logged, err = logged.UpdateManifestWithProof(lm0, lg.Proof(998, 0), lrepo.Now); err != nil && logged == nil {
		b.Fatal(err)
	}
	held, err := trust.NewState(lrepo.Root(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if held, err = held.RestoreLogged(nil, nil, nil, lg.Checkpoint()); err != nil {
		b.Fatal(err)
	}
	i := lg.AppendManifest(lm)
	// Every update brings a checkpoint the client has not verified yet:
	// proofs under 16 successive checkpoints (sizes 1000 to 1015), more
	// than tlog.Verifiers keeps, taken in turn.
	var proofs [][]byte
	for range 16 {
		proofs = append(proofs, lg.Proof(i, 999))
		lg.Append("root", uint64(2000+len(proofs)), []byte{byte(len(proofs))})
	}
	proof := proofs[0]
	// Wall time on a shared machine includes waiting for a core; the
	// thread's CPU time (the goroutine pinned to it) does not.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tPlain, tLogged, cPlain, cLogged time.Duration
	for n := 0; b.Loop(); n++ {
		t0, c0 := time.Now(), cputime.Thread()
		if _, err := plain.UpdateManifest(m, repo.Now); err != nil {
			b.Fatal(err)
		}
		t1, c1 := time.Now(), cputime.Thread()
		if _, err := held.UpdateManifestWithProof(lm, proofs[n%len(proofs)], lrepo.Now); err != nil {
			b.Fatal(err)
		}
		t2, c2 := time.Now(), cputime.Thread()
		tPlain += t1.Sub(t0)
		tLogged += t2.Sub(t1)
		cPlain += c1 - c0
		cLogged += c2 - c1
	}
	n := float64(b.N)
	b.ReportMetric(float64(tPlain.Nanoseconds())/n, "plain-ns/op")
	b.ReportMetric(float64(tLogged.Nanoseconds())/n, "logged-ns/op")
	b.ReportMetric(100*float64(tLogged-tPlain)/float64(tPlain), "overhead-%")
	if cputime.Supported() {
		b.ReportMetric(float64(cPlain.Nanoseconds())/n, "plain-cpu-ns/op")
		b.ReportMetric(float64(cLogged.Nanoseconds())/n, "logged-cpu-ns/op")
		b.ReportMetric(float64((cLogged-cPlain).Nanoseconds())/n, "proof-cpu-ns/op")
		b.ReportMetric(100*float64(cLogged-cPlain)/float64(cPlain), "overhead-cpu-%")
	}
	b.ReportMetric(float64(len(proof)), "proof-bytes")
}
