package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLiteFile is the database file name inside the data directory.
const SQLiteFile = "pinset.db"

// DefaultSQLitePath returns the SQLite file of a data directory.
func DefaultSQLitePath(dataDir string) string {
	if dataDir == "" {
		dataDir = "pinset-data"
	}
	return filepath.Join(dataDir, SQLiteFile)
}

// OpenSQLite opens (creating if needed) the SQLite database at path, with
// the WAL journal and synchronous=FULL: a transaction is on disk when its
// commit returns, so it survives kill -9 and power loss. The directory is
// created with mode 0700 and the file is 0600.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (Store, error) {
	return openSQLite(ctx, path, true, opts...)
}

// openSQLite opens the database at path; unless create, the file must
// exist already and hold pinset's schema (ErrNoStore).
func openSQLite(ctx context.Context, path string, create bool, opts ...Option) (Store, error) {
	if create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if !create && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist: %w", path, ErrNoStore)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	b := &sqliteDB{db: db}
	if err := b.ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if !create {
		if err := hasSchema(ctx, b, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`); err != nil {
			db.Close()
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	if err := migrate(ctx, b, "sqlite", ""); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return newSQLStore(b, buildOptions(opts)), nil
}

type sqliteDB struct{ db *sql.DB }

func (b *sqliteDB) name() string                   { return "sqlite" }
func (b *sqliteDB) ping(ctx context.Context) error { return b.db.PingContext(ctx) }
func (b *sqliteDB) close() error                   { return b.db.Close() }

func (b *sqliteDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlExec(ctx, b.db, q, args...)
}
func (b *sqliteDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return sqlQuery(ctx, b.db, q, args...)
}
func (b *sqliteDB) queryRow(ctx context.Context, q string, args ...any) row {
	return sqlRow{b.db.QueryRowContext(ctx, q, args...)}
}

func (b *sqliteDB) inTx(ctx context.Context, f func(c conn) error) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &sqlTx{tx: tx}
	defer t.closeStmts()
	if err := f(t); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

type sqlRunner interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func sqlExec(ctx context.Context, r sqlRunner, q string, args ...any) (int64, error) {
	res, err := r.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func sqlQuery(ctx context.Context, r sqlRunner, q string, args ...any) (rows, error) {
	rs, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

// sqlTx is a transaction that prepares each statement once: a report
// batch runs the same few statements hundreds of times, and SQLite would
// otherwise parse each one every time (pgx caches statements itself).
type sqlTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (t *sqlTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

func (t *sqlTx) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
}

func (t *sqlTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if len(args) == 0 {
		// Migrations: several statements in one string, run once.
		return sqlExec(ctx, t.tx, q)
	}
	st, err := t.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
func (t *sqlTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}
func (t *sqlTx) queryRow(ctx context.Context, q string, args ...any) row {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return sqlRow{st.QueryRowContext(ctx, args...)}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
