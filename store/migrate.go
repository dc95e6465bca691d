package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// migrations holds the schema, one directory per backend; files are named
// NNN_description.sql and applied in order, each once, in a transaction.
//
//go:embed migrations
var migrations embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNN_description.sql", e.Name())
		}
		b, err := fs.ReadFile(migrations, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, e.Name(), string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the migrations not yet recorded. lock, when not empty, is
// run first inside the transaction (PostgreSQL takes an advisory lock so
// that processes starting together do not race).
func migrate(ctx context.Context, db backend, dialect, lock string) error {
	return migrateTo(ctx, db, dialect, lock, 1<<62)
}

// migrateTo applies the migrations up to version max (tests start from an
// older schema).
func migrateTo(ctx context.Context, db backend, dialect, lock string, max int64) error {
	ms, err := loadMigrations(dialect)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(c conn) error {
		if lock != "" {
			if _, err := c.exec(ctx, lock); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
			return err
		}
		for _, m := range ms {
			if m.version > max {
				break
			}
			var n int64
			if err := c.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if _, err := c.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := c.exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
}
