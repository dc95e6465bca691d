package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/report"
	"testing"
	"time"
)

// BenchmarkAddReport measures report ingestion into SQLite (WAL,
// synchronous=FULL) from parallel writers, as the service does under load.
func BenchmarkAddReportSQLite(b *testing.B)   { benchAdd(b, benchSQLite(b)) }
func BenchmarkAddReportPostgres(b *testing.B) { benchAdd(b, benchPostgres(b)) }

// benchSQLite opens a new SQLite store for a benchmark.
func benchSQLite(b *testing.B) Store {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), SQLiteFile))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchPostgres opens a store in a new schema of the test database (the
// benchmark is skipped without one).
func benchPostgres(b *testing.B) Store {
	base := postgresBase(b)
	u, err := TestSchema(context.Background(), base, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s, err := OpenPostgres(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		DropTestSchema(context.Background(), base, u)
	})
	return s
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

// BenchmarkReportStorm: AddReport of 1,000 distinct failures over and
// over (a storm), parallel; cpu-µs/op is this process's CPU time per
// report.
func BenchmarkReportStormSQLite(b *testing.B)   { benchStorm(b, benchSQLite(b)) }
func BenchmarkReportStormPostgres(b *testing.B) { benchStorm(b, benchPostgres(b)) }

func benchStorm(b *testing.B, s Store) {
	base, raw := fixtureReport(b, "trustkit-android.json", "shop")
	reps := make([]report.Report, 1000)
	for i := range reps {
		reps[i] = *base
		reps[i].AppVersion = fmt.Sprint(i)
		reps[i].DedupKey = fmt.Sprintf("%064d", i)
	}
	var n atomic.Int64
	b.SetParallelism(32)
	cpu0 := testtool.CPUTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := reps[n.Add(1)%int64(len(reps))]
			if _, _, err := s.AddReport(context.Background(), &r, raw, t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((testtool.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
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
