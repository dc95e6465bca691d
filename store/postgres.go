package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenPostgres connects to PostgreSQL (a postgres:// URL; pgx pool options
// such as pool_max_conns may be added to it) and migrates the schema.
// Several pinset processes may share one database.
func OpenPostgres(ctx context.Context, url string, opts ...Option) (Store, error) {
	return openPostgres(ctx, url, true, opts...)
}

// openPostgres connects; unless create, the database must hold pinset's
// schema already (ErrNoStore).
func openPostgres(ctx context.Context, url string, create bool, opts ...Option) (Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx errors can echo the URL, password included: say less.
		return nil, errors.New("database URL: not a valid postgres:// URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b := &pgDB{pool: pool}
	if err := b.ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if !create {
		if err := hasSchema(ctx, b, `SELECT COUNT(*) FROM (SELECT to_regclass('schema_migrations') AS t) s WHERE t IS NOT NULL`); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
		}
	}
	// 0x70696e736574 is "pinset": one advisory lock for schema changes.
	if err := migrate(ctx, b, "postgres", `SELECT pg_advisory_xact_lock(123738905552244)`); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return newSQLStore(b, buildOptions(opts)), nil
}

type pgDB struct{ pool *pgxpool.Pool }

func (b *pgDB) name() string                   { return "postgres" }
func (b *pgDB) ping(ctx context.Context) error { return b.pool.Ping(ctx) }
func (b *pgDB) close() error                   { b.pool.Close(); return nil }

func (b *pgDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := b.pool.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}
func (b *pgDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	rs, err := b.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rs}, nil
}
func (b *pgDB) queryRow(ctx context.Context, q string, args ...any) row {
	return pgRow{b.pool.QueryRow(ctx, q, args...)}
}

func (b *pgDB) inTx(ctx context.Context, f func(c conn) error) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return f(pgTx{tx}) })
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}
func (t pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	rs, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rs}, nil
}
func (t pgTx) queryRow(ctx context.Context, q string, args ...any) row {
	return pgRow{t.tx.QueryRow(ctx, q, args...)}
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() { r.Rows.Close() }

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
