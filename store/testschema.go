package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// TestSchema creates a fresh, empty schema in the PostgreSQL database at
// base and returns a URL whose connections use it, so that tests (of this
// package and of the server) can share one database without seeing each
// other's rows. Drop it with DropTestSchema.
func TestSchema(ctx context.Context, base, label string) (string, error) {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("PINSET_TEST_POSTGRES_URL: %w", err)
	}
	defer c.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// DropTestSchema drops the schema a TestSchema URL names.
func DropTestSchema(ctx context.Context, base, schemaURL string) error {
	u, err := url.Parse(schemaURL)
	if err != nil {
		return err
	}
	schema := u.Query().Get("search_path")
	if len(schema) != 14 || schema[:2] != "t_" {
		return fmt.Errorf("not a test schema: %q", schema)
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	return err
}
