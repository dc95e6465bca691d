package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLogAppend measures what the transparency log adds to a
// publication: each iteration publishes one manifest (PublishManifest,
// which appends its record and hashes in the same transaction) and, in the
// same loop so that load falls on both alike, runs a transaction with the
// same statements minus the append. It reports both and the append's
// share. The log grows by one entry per iteration (as it does per
// publication), starting at 1000 entries.
func BenchmarkLogAppendSQLite(b *testing.B) {
	benchSQLite(b, benchLogAppend)
}

func BenchmarkLogAppendPostgres(b *testing.B) {
	benchPostgres(b, benchLogAppend)
}

func benchLogAppend(b *testing.B, st Store) {
	ctx := context.Background()
	s := st.(*sqlStore)
	body := make([]byte, 13<<10) // a 50-host manifest envelope is about 13 KB
	for _, app := range []string{"logged", "plain"} {
		if err := s.PublishRoot(ctx, Document{App: app, Version: 1, Body: []byte("r1"), CreatedAt: t0}, 0); err != nil {
			b.Fatal(err)
		}
	}
	v := int64(0)
	for v < 1000 {
		v++
		body[0] = byte(v)
		if err := s.PublishManifest(ctx, Document{App: "logged", Version: v, RootVersion: 1, Body: body, CreatedAt: t0}, v-1); err != nil {
			b.Fatal(err)
		}
	}
	pv := int64(0)
	var with, without time.Duration
	for b.Loop() {
		v++
		body[0], body[1] = byte(v), byte(v>>8)
		t1 := time.Now()
		if err := s.PublishManifest(ctx, Document{App: "logged", Version: v, RootVersion: 1, Body: body, CreatedAt: t0}, v-1); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		pv++
		err := s.db.inTx(ctx, func(c conn) error {
			if _, err := c.exec(ctx, `UPDATE apps SET manifest_version = $1, updated_at = $2 WHERE id = $3 AND manifest_version = $4`, pv, unix(t0), "plain", pv-1); err != nil {
				return err
			}
			_, err := c.exec(ctx, `INSERT INTO manifests (app, version, root_version, body, sha256, issued_at, expires, source, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, "plain", pv, 1, body, digest(body), 0, 0, "publish", unix(t0))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		with += t2.Sub(t1)
		without += t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(with.Nanoseconds())/n, "publish-ns/op")
	b.ReportMetric(float64(without.Nanoseconds())/n, "nolog-ns/op")
	b.ReportMetric(float64((with-without).Nanoseconds())/n, "append-ns/op")
	if size, err := s.LogSize(ctx, "logged"); err == nil {
		b.ReportMetric(float64(size), "log-entries")
	}
}
