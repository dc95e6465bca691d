package store

import (
	"context"
	"errors"
	"fmt"
	"os"
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
func BenchmarkReportStormSQLite(b *testing.B)   { benchStorm(b, benchSQLite(b), 0) }
func BenchmarkReportStormPostgres(b *testing.B) { benchStorm(b, benchPostgres(b), 0) }

// benchStorm stores b.N reports of 1,000 distinct failures from 32
// writers; the clock advances a minute every perMinute reports (0: it
// stands still).
func benchStorm(b *testing.B, s Store, perMinute int64) {
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
			k := n.Add(1)
			r := reps[k%int64(len(reps))]
			now := t0
			if perMinute > 0 {
				now = t0.Add(time.Duration(k/perMinute) * time.Minute)
			}
			if _, _, err := s.AddReport(context.Background(), &r, raw, now); err != nil {
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

// BenchmarkStormStorage stores b.N reports of 1,000 distinct failures,
// the clock advancing a minute every stormPerMinute reports (the rate the
// service ingests over HTTPS here, docs/benchmarks.md), and reports what
// the database holds afterwards: bytes-stored (SQLite: its files once
// closed; PostgreSQL: the schema's tables with their indexes and TOAST
// after VACUUM), the report rows and the per-minute count rows. With
// -benchtime 10000000x it measures the storage after 10 M reports of
// 1,000 failures.
func BenchmarkStormStorageSQLite(b *testing.B) {
	dir := b.TempDir()
	s, err := OpenSQLite(context.Background(), filepath.Join(dir, SQLiteFile))
	if err != nil {
		b.Fatal(err)
	}
	stormStorage(b, s, func() int64 {
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		var size int64
		ents, err := os.ReadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				b.Fatal(err)
			}
			size += fi.Size()
		}
		return size
	})
}

func BenchmarkStormStoragePostgres(b *testing.B) {
	s := benchPostgres(b)
	stormStorage(b, s, func() int64 {
		db := s.(*sqlStore).db
		ctx := context.Background()
		if _, err := db.exec(ctx, `VACUUM`); err != nil {
			b.Fatal(err)
		}
		var size int64
		if err := db.queryRow(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&size); err != nil {
			b.Fatal(err)
		}
		logRelationSizes(b, db)
		return size
	})
}

func stormStorage(b *testing.B, s Store, size func() int64) {
	const stormPerMinute = 3000 * 60
	benchStorm(b, s, stormPerMinute)
	b.StopTimer()
	db := s.(*sqlStore).db
	var rows, counts int64
	if err := db.queryRow(context.Background(), `SELECT count(*) FROM reports`).Scan(&rows); err != nil {
		b.Fatal(err)
	}
	if err := db.queryRow(context.Background(), `SELECT count(*) FROM report_counts`).Scan(&counts); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size()), "bytes-stored")
	b.ReportMetric(float64(rows), "report-rows")
	b.ReportMetric(float64(counts), "count-rows")
}

// logRelationSizes logs the size of each table and index of the schema,
// largest first, and reports the updates of the tables a storm bumps
// (reports, report_tallies) and how many of them were heap-only (HOT: no
// index touched). Statistics reach pg_stat_user_tables when each
// connection flushes them (at most a second after it went idle).
func logRelationSizes(b *testing.B, db backend) {
	ctx := context.Background()
	rs, err := db.query(ctx, `SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') AND pg_relation_size(c.oid) > 1000000 ORDER BY 2 DESC`)
	type rel struct {
		name string
		size int64
	}
	rels, err := scanRows(rs, err, nil, func(r row) (rel, error) {
		var x rel
		return x, r.Scan(&x.name, &x.size)
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rels {
		b.Logf("%s: %.1f MB", r.name, float64(r.size)/1e6)
	}
	time.Sleep(2 * time.Second)
	for _, t := range []struct{ table, metric string }{{"reports", "reports"}, {"report_tallies", "tallies"}} {
		var upd, hot int64
		err := db.queryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`, t.table).Scan(&upd, &hot)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(upd), t.metric+"-updates")
		b.ReportMetric(float64(hot), t.metric+"-hot-updates")
	}
}
