package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAddReport measures report ingestion into SQLite (WAL,
// synchronous=FULL) from parallel writers, as the service does under load.
func BenchmarkAddReportSQLite(b *testing.B) {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), SQLiteFile))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchAdd(b, s)
}

func BenchmarkAddReportPostgres(b *testing.B) {
	base := postgresBase(b)
	u, err := TestSchema(context.Background(), base, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer DropTestSchema(context.Background(), base, u)
	s, err := OpenPostgres(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchAdd(b, s)
}

func benchAdd(b *testing.B, s Store) {
	base, raw := fixtureReport(b, "trustkit-android.json", "shop")
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := *base
			r.DedupKey = fmt.Sprintf("%064d", n.Add(1))
			if _, _, err := s.AddReport(context.Background(), &r, raw, t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRecordInstallsCapped measures one adoption flush of 10,000
// sightings into SQLite: without the cap, with the cap and every sighting
// on its own network (a query per network), and with the cap and every
// sighting on one network (a forger: 64 kept).
func BenchmarkRecordInstallsCapped(b *testing.B) {
	for _, c := range []struct {
		name     string
		max      int
		networks int
	}{{"nocap", 0, 10_000}, {"cap64-10000networks", 64, 10_000}, {"cap64-1network", 64, 1}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), SQLiteFile))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for i := 0; b.Loop(); i++ {
				batch := make([]InstallSighting, 10_000)
				for j := range batch {
					batch[j] = InstallSighting{App: "a", Install: fmt.Sprintf("%08x%024x", i, j), ManifestVersion: 1, SDK: "b",
						Network: fmt.Sprintf("n%d", j%c.networks), Seen: t0}
				}
				if _, err := s.RecordInstallsCapped(context.Background(), batch, NetworkLimit{Max: c.max, Since: t0.Add(-time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
