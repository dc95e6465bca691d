package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"slices"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/cputime"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// BenchmarkRefreshLogProof measures what the transparency log adds to a
// whole manifest update on the client: Client.Refresh against the real
// service on loopback (the root probe, the manifest fetch over HTTP, the
// verification of root chain and manifest, the cache written with fsync
// through DirStore, the pin swap). Three services and three clients
// refresh in turn in one loop, so load from other processes falls on all
// alike, each after a new 50-host manifest is published to its service
// (publishing, which signs the checkpoint, asks the witnesses and builds
// the proofs, is not timed):
//
//   - plain: a root without a log;
//   - logged: a root naming the service's log (the proof in the response
//     header, a consistency proof from the checkpoint the client holds:
//     one Ed25519 signature to verify);
//   - witnessed: the same with two witnesses on loopback and a threshold of
//     2 (three signatures).
//
// The machine is shared, so a refresh now and then waits tens of
// milliseconds for a core; means follow those stalls, medians less so.
// The process's CPU time (the client, the service's handler and loopback
// I/O on both ends, not the wait for fsync) does not include that wait.
// For each side it reports the median wall time and the median CPU time
// of a refresh (the side that goes first rotates every iteration), and
// the logged and witnessed overheads as the difference of the medians
// over the plain median.
func BenchmarkRefreshLogProof(b *testing.B) {
	now := trusttest.Epoch.Add(time.Hour)
	clock := func() time.Time { return now }
	const app = "com.example.bench"
	type side struct {
		svc  *logService
		repo *trusttest.Repo
		c    *client.Client
		d    []time.Duration // wall
		cpu  []time.Duration // the process's CPU time (client and service)
	}
	mk := func(logged bool, witnesses int) *side {
		var cfg *server.LogConfig
		var log *trust.Log
		if logged {
			cfg = &server.LogConfig{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), Name: "pins.example.test"}
			key, _ := cfg.LogVerifierKey(app)
			log = &trust.Log{Key: key}
			for i := range witnesses {
				w := newTestWitness(b, byte(1+i), key)
				cfg.Witnesses = append(cfg.Witnesses, w.conf)
				log.Witnesses, log.WitnessThreshold = append(log.Witnesses, w.conf.Key), witnesses
			}
		}
		svc, repo, r1, m1 := loggedApp(b, app, 71, 50, clock, cfg, log)
		c, err := client.New(client.Config{BundledRoot: r1, BundledManifest: m1, ServiceURL: svc.url, Now: clock, Store: client.NewDirStore(b.TempDir())})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return &side{repo: repo, svc: svc, c: c}
	}
	sides := []*side{mk(false, 0), mk(true, 0), mk(true, 2)}
	for i := 0; i < b.N; i++ {
		for j := range sides {
			s := sides[(i+j)%len(sides)]
			s.svc.publishB(b, app, "pins", s.repo.PublishManifest(nil))
			t0, c0 := time.Now(), cputime.Process()
			if err := s.c.Refresh(context.Background()); err != nil {
				b.Fatal(err)
			}
			s.d, s.cpu = append(s.d, time.Since(t0)), append(s.cpu, cputime.Process()-c0)
		}
	}
	report := func(what string, of func(*side) []time.Duration) {
		med := make([]float64, len(sides))
		for i, s := range sides {
			d := of(s)
			slices.Sort(d)
			med[i] = float64(d[len(d)/2])
		}
		for i, name := range []string{"plain", "logged", "witnessed"} {
			b.ReportMetric(med[i], name+"-"+what+"median-ns")
			if i > 0 {
				b.ReportMetric(100*(med[i]-med[0])/med[0], name+"-"+what+"overhead-%")
			}
		}
	}
	report("", func(s *side) []time.Duration { return s.d })
	if cputime.Supported() {
		report("cpu-", func(s *side) []time.Duration { return s.cpu })
	}
}
