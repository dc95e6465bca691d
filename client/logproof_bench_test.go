package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// BenchmarkRefreshLogProof measures what the transparency log adds to a
// whole manifest update on the client: Client.Refresh against the real
// service on loopback (the root probe, the manifest fetch, verification,
// the cache written with fsync through DirStore, the pin swap). Two
// services and two clients, one without a log and one whose root names the
// service's log (the proof in the response header, a consistency proof
// from the checkpoint held), refresh in turn in one loop after each has a
// new 50-host manifest published (publishing is not timed).
func BenchmarkRefreshLogProof(b *testing.B) {
	now := trusttest.Epoch.Add(time.Hour)
	clock := func() time.Time { return now }
	lc := &server.LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), Name: "pins.example.test"}
	type side struct {
		svc  *logService
		repo *trusttest.Repo
		c    *client.Client
		d    time.Duration
	}
	mk := func(logged bool) *side {
		const app = "com.example.bench"
		var cfg *server.LogConfig
		repo := trusttest.New(app, 71)
		repo.Hosts = trusttest.Hosts(50)
		if logged {
			cfg = lc
			key, _ := lc.LogVerifierKey(app)
			repo.Log = &trust.Log{Key: key}
		}
		repo.Roots, repo.Manifests, repo.ManifestVersion = nil, nil, 0
		r1 := repo.PublishRootSignedBy(repo.RootDoc(1), repo.RootKeys[:2]...)
		m1 := repo.PublishManifest(nil)
		s := &side{repo: repo, svc: newLogServiceB(b, clock, cfg)}
		s.svc.publishB(b, app, "root", r1)
		s.svc.publishB(b, app, "pins", m1)
		c, err := client.New(client.Config{BundledRoot: r1, BundledManifest: m1, ServiceURL: s.svc.url, Now: clock, Store: client.NewDirStore(b.TempDir())})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		s.c = c
		return s
	}
	sides := []*side{mk(false), mk(true)}
	for i := 0; i < b.N; i++ {
		for _, s := range sides {
			s.svc.publishB(b, "com.example.bench", "pins", s.repo.PublishManifest(nil))
			t0 := time.Now()
			if err := s.c.Refresh(context.Background()); err != nil {
				b.Fatal(err)
			}
			s.d += time.Since(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(sides[0].d.Nanoseconds())/n, "plain-ns/op")
	b.ReportMetric(float64(sides[1].d.Nanoseconds())/n, "logged-ns/op")
	b.ReportMetric(100*float64(sides[1].d-sides[0].d)/float64(sides[0].d), "overhead-%")
}
