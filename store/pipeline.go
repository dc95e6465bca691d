package store

import (
	"context"
	"runtime"

	"github.com/jackc/pgx/v5"
)

// A group commit runs the same few statements for every distinct key of a
// batch. On PostgreSQL each statement run one after another costs a round
// trip to the server (and a wake-up of the batch goroutine); a pipeline
// sends them all at once and reads their answers in order.

// stmt is one statement of a pipeline. scan, when set, reads the
// statement's one row (given ErrNotFound when there is none); otherwise the
// statement is executed and its rows ignored.
type stmt struct {
	q    string
	args []any
	scan func(r row) error
}

// pipeliner is a conn that sends several statements in one round trip.
type pipeliner interface {
	pipeline(ctx context.Context, ss []stmt) error
}

// runAll runs ss in order in c and stops at the first error: on
// PostgreSQL in one round trip (pgx.Batch), on SQLite (in-process, no
// round trips) one prepared statement after another.
func runAll(ctx context.Context, c conn, ss []stmt) error {
	if len(ss) == 0 {
		return nil
	}
	if p, ok := c.(pipeliner); ok {
		return p.pipeline(ctx, ss)
	}
	for i, s := range ss {
		if i%16 == 15 {
			// As between a batch's groups (batcher.commit): let the
			// service's document GETs run.
			runtime.Gosched()
		}
		if s.scan != nil {
			if err := s.scan(c.queryRow(ctx, s.q, s.args...)); err != nil {
				return err
			}
			continue
		}
		if _, err := c.exec(ctx, s.q, s.args...); err != nil {
			return err
		}
	}
	return nil
}

func (t pgTx) pipeline(ctx context.Context, ss []stmt) error {
	b := &pgx.Batch{}
	for _, s := range ss {
		qq := b.Queue(s.q, s.args...)
		if scan := s.scan; scan != nil {
			qq.QueryRow(func(r pgx.Row) error { return scan(pgRow{r}) })
		}
	}
	// Close reads every answer, runs the scans in order and returns the
	// first error.
	return t.tx.SendBatch(ctx, b).Close()
}
