package trust_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// benchManifest returns a state and a 2-of-3-signed manifest with 50 hosts.
func benchManifest(b *testing.B) (*trust.State, []byte, *trusttest.Repo) {
	return benchManifestN(b, 50)
}

func benchManifestN(b *testing.B, hosts int) (*trust.State, []byte, *trusttest.Repo) {
	repo := trusttest.New(app, 500)
	repo.Hosts = trusttest.Hosts(hosts)
	st, err := trust.NewState(repo.Root(), repo.Manifest())
	if err != nil {
		b.Fatal(err)
	}
	m := repo.PublishManifest(nil)
	if _, err := st.UpdateManifest(m, repo.Now); err != nil {
		b.Fatal(err)
	}
	return st, m, repo
}

// BenchmarkVerifyManifest is the whole update: envelope, two ECDSA
// verifies, strict decoding, validation of 50 host policies, the state.
func BenchmarkVerifyManifest(b *testing.B) {
	st, m, repo := benchManifest(b)
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.UpdateManifest(m, repo.Now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAVerifyx2 is the baseline: the two bare signature checks
// (SHA-256 of the PAE bytes and ecdsa.VerifyASN1, twice) of the same
// manifest.
func BenchmarkECDSAVerifyx2(b *testing.B) {
	_, m, repo := benchManifest(b)
	env, err := trust.ParseEnvelope(m)
	if err != nil {
		b.Fatal(err)
	}
	pae := trust.PAE(env.PayloadType, env.Payload)
	keys := []*ecdsa.PublicKey{repo.PinsKeys[0].Key.Public().(*ecdsa.PublicKey), repo.PinsKeys[1].Key.Public().(*ecdsa.PublicKey)}
	b.ReportAllocs()
	for b.Loop() {
		for i := range 2 {
			h := sha256.Sum256(pae)
			if !ecdsa.VerifyASN1(keys[i], h[:], env.Signatures[i].Sig) {
				b.Fatal("signature does not verify")
			}
		}
	}
}

// BenchmarkVerifyManifestRatio alternates one full manifest verification
// and the two bare ECDSA verifies in the same loop, so that load from
// other processes hits both alike, and reports their ratio
// (verify-ns/ecdsa-ns; 1.0 would mean signature checks are all the cost).
func BenchmarkVerifyManifestRatio(b *testing.B) {
	for _, n := range []int{50, 2} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) { benchRatio(b, n) })
	}
}

func benchRatio(b *testing.B, hosts int) {
	st, m, repo := benchManifestN(b, hosts)
	env, _ := trust.ParseEnvelope(m)
	keys := []*ecdsa.PublicKey{repo.PinsKeys[0].Key.Public().(*ecdsa.PublicKey), repo.PinsKeys[1].Key.Public().(*ecdsa.PublicKey)}
	var full, bare time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := st.UpdateManifest(m, repo.Now); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		pae := trust.PAE(env.PayloadType, env.Payload)
		for i := range 2 {
			h := sha256.Sum256(pae)
			if !ecdsa.VerifyASN1(keys[i], h[:], env.Signatures[i].Sig) {
				b.Fatal("signature does not verify")
			}
		}
		t2 := time.Now()
		full += t1.Sub(t0)
		bare += t2.Sub(t1)
	}
	b.ReportMetric(float64(full.Nanoseconds())/float64(b.N), "verify-ns/op")
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "ecdsa2-ns/op")
	b.ReportMetric(float64(full)/float64(bare), "ratio")
}

// BenchmarkDecodeManifest is strict decoding and validation alone (no
// signature check) of the 50-host manifest: the path every pin of every
// host goes through.
func BenchmarkDecodeManifest(b *testing.B) {
	_, m, _ := benchManifest(b)
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := trust.DecodeManifestUnverified(m); err != nil {
			b.Fatal(err)
		}
	}
}
