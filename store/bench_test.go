package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkAddReport measures report ingestion into SQLite (WAL,
// synchronous=FULL) from parallel writers, as the service does under load.
func BenchmarkAddReportSQLite(b *testing.B) {
	benchSQLite(b, benchAdd)
}

func BenchmarkAddReportPostgres(b *testing.B) {
	benchPostgres(b, benchAdd)
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

// benchSQLite runs bench on a new SQLite store.
func benchSQLite(b *testing.B, bench func(*testing.B, Store)) {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), SQLiteFile))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bench(b, s)
}

// benchPostgres runs bench on a new PostgreSQL schema (skipped without a
// database, as postgresBase says).
func benchPostgres(b *testing.B, bench func(*testing.B, Store)) {
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
	bench(b, s)
}
