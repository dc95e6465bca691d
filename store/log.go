package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/tlog"
)

// LogStore is the read side of each app's transparency log (package tlog;
// docs/trust.md section 12). The write side has no method of its own:
// PublishRoot and PublishManifest append the document's record in the
// transaction that publishes it, so a document is current only if it is
// logged, and the log never holds a document that was not published.
type LogStore interface {
	// LogSize returns the number of entries in the app's log (0 for an
	// unknown app or an empty log).
	LogSize(ctx context.Context, app string) (int64, error)
	// LogHashes returns the stored hashes at the given storage indexes
	// (tlog.StoredHashIndex); ErrNotFound if one is not stored.
	LogHashes(ctx context.Context, app string, indexes []int64) ([]tlog.Hash, error)
	// LogRecords returns the records of entries [start, end).
	LogRecords(ctx context.Context, app string, start, end int64) ([][]byte, error)
	// LogIndex returns the index of the entry logging the document of kind
	// (tlog.KindRoot or tlog.KindManifest) and version, or ErrNotFound.
	LogIndex(ctx context.Context, app, kind string, version int64) (int64, error)
}

// appendLog appends the record of a published document to the app's log,
// inside the publishing transaction c. Publications of one app are
// serialised by the compare-and-swap on its apps row, so the size read
// here cannot change before the commit; the primary keys refuse a second
// entry at one index whatever happens.
func appendLog(ctx context.Context, c conn, app, kind string, version int64, body []byte, now time.Time) error {
	rec, err := tlog.NewRecord(app, kind, uint64(version), body, now).Marshal()
	if err != nil {
		return fmt.Errorf("log record: %w", err)
	}
	n, err := logSize(ctx, c, app)
	if err != nil {
		return err
	}
	hashes, err := tlog.StoredHashes(n, rec, tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		return readHashes(ctx, c, app, ix)
	}))
	if err != nil {
		return fmt.Errorf("log of %s: %w", app, err)
	}
	if _, err := c.exec(ctx, `INSERT INTO log_entries (app, idx, kind, version, record, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		app, n, kind, version, rec, unix(now)); err != nil {
		return err
	}
	// One statement for the leaf and the interior nodes it completes
	// (at most 64).
	base := tlog.StoredHashCount(n)
	var q strings.Builder
	args := []any{app}
	q.WriteString(`INSERT INTO log_hashes (app, hidx, hash) VALUES `)
	for i, h := range hashes {
		if i > 0 {
			q.WriteByte(',')
		}
		args = append(args, base+int64(i), h[:])
		fmt.Fprintf(&q, "($1, $%d, $%d)", len(args)-1, len(args))
	}
	_, err = c.exec(ctx, q.String(), args...)
	return err
}

// logSize is the number of entries: the next index, read from the
// primary key's end (not a count of every row).
func logSize(ctx context.Context, c conn, app string) (int64, error) {
	var n int64
	err := c.queryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries WHERE app = $1`, app).Scan(&n)
	return n, err
}

// readHashes reads stored hashes in the order asked.
func readHashes(ctx context.Context, c conn, app string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	const chunk = 256
	for start := 0; start < len(indexes); start += chunk {
		part := indexes[start:min(start+chunk, len(indexes))]
		var q strings.Builder
		args := []any{app}
		q.WriteString(`SELECT hidx, hash FROM log_hashes WHERE app = $1 AND hidx IN (`)
		for i, x := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			args = append(args, x)
			q.WriteString("$" + strconv.Itoa(len(args)))
		}
		q.WriteByte(')')
		rs, err := c.query(ctx, q.String(), args...)
		got := make(map[int64]tlog.Hash, len(part))
		err = eachRow(rs, err, func(r row) error {
			var x int64
			var h []byte
			if err := r.Scan(&x, &h); err != nil {
				return err
			}
			if len(h) != len(tlog.Hash{}) {
				return fmt.Errorf("log of %s: stored hash %d has %d bytes", app, x, len(h))
			}
			got[x] = tlog.Hash(h)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i, x := range part {
			h, ok := got[x]
			if !ok {
				return nil, fmt.Errorf("log of %s: hash %d: %w", app, x, ErrNotFound)
			}
			out[start+i] = h
		}
	}
	return out, nil
}

func (s *sqlStore) LogSize(ctx context.Context, app string) (int64, error) {
	return logSize(ctx, s.db, app)
}

func (s *sqlStore) LogHashes(ctx context.Context, app string, indexes []int64) ([]tlog.Hash, error) {
	return readHashes(ctx, s.db, app, indexes)
}

func (s *sqlStore) LogRecords(ctx context.Context, app string, start, end int64) ([][]byte, error) {
	if start < 0 || end < start || end-start > 1<<tlog.TileHeight {
		return nil, fmt.Errorf("log records [%d, %d): at most %d at a time", start, end, 1<<tlog.TileHeight)
	}
	rs, err := s.db.query(ctx, `SELECT idx, record FROM log_entries WHERE app = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, app, start, end)
	var out [][]byte
	err = eachRow(rs, err, func(r row) error {
		var i int64
		var rec []byte
		if err := r.Scan(&i, &rec); err != nil {
			return err
		}
		if i != start+int64(len(out)) {
			return fmt.Errorf("log of %s: entry %d missing", app, start+int64(len(out)))
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != end-start {
		return nil, fmt.Errorf("log of %s: entries [%d, %d): %w", app, start, end, ErrNotFound)
	}
	return out, nil
}

func (s *sqlStore) LogIndex(ctx context.Context, app, kind string, version int64) (int64, error) {
	var i int64
	err := s.db.queryRow(ctx, `SELECT idx FROM log_entries WHERE app = $1 AND kind = $2 AND version = $3`, app, kind, version).Scan(&i)
	return i, err
}
