package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// countingDB counts the round trips of the transactions it runs: each
// statement sent alone is one, a pipeline is one.
type countingDB struct {
	backend
	trips atomic.Int64
}

func (d *countingDB) inTx(ctx context.Context, f func(c conn) error) error {
	return d.backend.inTx(ctx, func(c conn) error { return f(&countingConn{c, &d.trips}) })
}

type countingConn struct {
	c     conn
	trips *atomic.Int64
}

func (c *countingConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	c.trips.Add(1)
	return c.c.exec(ctx, q, args...)
}
func (c *countingConn) query(ctx context.Context, q string, args ...any) (rows, error) {
	c.trips.Add(1)
	return c.c.query(ctx, q, args...)
}
func (c *countingConn) queryRow(ctx context.Context, q string, args ...any) row {
	c.trips.Add(1)
	return c.c.queryRow(ctx, q, args...)
}
func (c *countingConn) pipeline(ctx context.Context, ss []stmt) error {
	if p, ok := c.c.(pipeliner); ok {
		c.trips.Add(1)
		return p.pipeline(ctx, ss)
	}
	return runAll(ctx, c.c, ss)
}

// TestStormBatchRoundTripsPostgres: a group commit of repeats (100 stored
// failures, each arriving twice, past their first samples and with a
// fresh latest one) costs a constant number of round trips to PostgreSQL,
// not a few per dedup key: the counters and the repeats' row updates in
// one pipeline. The answers are those of the statements run one by
// one: the stored report's id, a duplicate, the row's arrivals.
func TestStormBatchRoundTripsPostgres(t *testing.T) {
	s := openPostgresForTest(t).(*sqlStore)
	db := &countingDB{backend: s.db}
	b := &batcher{db: db, limits: s.limits, drops: &drops{}, known: &known{}, lastPrune: t0.Add(time.Hour)}
	base, raw := fixtureReport(t, "trustkit-android.json", "shop")
	const keys = 100
	req := func(i int, now time.Time) *addReq {
		r := *base
		r.AppVersion = fmt.Sprint(i)
		r.DedupKey = fmt.Sprintf("%064d", i)
		return &addReq{r: &r, raw: raw, now: now, res: make(chan addRes, 1)}
	}
	commit := func(batch []*addReq) []addRes {
		b.commit(batch)
		out := make([]addRes, len(batch))
		for i, q := range batch {
			out[i] = <-q.res
			if out[i].err != nil {
				t.Fatal(out[i].err)
			}
		}
		return out
	}
	// Five arrivals of each key: the first four samples and the latest.
	var first []addRes
	for range SampleFirst + 1 {
		var batch []*addReq
		for i := range keys {
			batch = append(batch, req(i, t0))
		}
		if first == nil {
			first = commit(batch)
		} else {
			commit(batch)
		}
	}
	var batch []*addReq
	for i := range 2 * keys {
		batch = append(batch, req(i%keys, t0.Add(time.Second)))
	}
	db.trips.Store(0)
	got := commit(batch)
	if n := db.trips.Load(); n != 1 {
		t.Errorf("a batch of %d repeats of %d failures took %d round trips, want 1 (one pipeline of counters and row updates)", len(batch), keys, n)
	}
	for i, r := range got {
		k := i % keys
		wantCount := int64(SampleFirst + 1 + 2)
		if r.id != first[k].id || !r.dup || r.count != wantCount {
			t.Fatalf("arrival %d: id %d dup %v count %d, want id %d dup true count %d", i, r.id, r.dup, r.count, first[k].id, wantCount)
		}
	}
	rs, err := s.ReportCounts(context.Background(), "shop", t0, t0.Add(time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != keys || rs[0].Count != int64(SampleFirst+1+2) {
		t.Fatalf("report counts: %d rows, first %+v; want %d rows of %d", len(rs), rs[0], keys, SampleFirst+1+2)
	}
}
