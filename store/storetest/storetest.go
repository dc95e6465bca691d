// Package storetest gives the tests of other packages a PostgreSQL store
// of their own.
package storetest

import (
	"context"
	"os"
	"testing"

	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/store"
)

// PostgresURL returns the URL of a fresh schema (store.TestSchema) in the
// database PINSET_TEST_POSTGRES_URL names, dropped when the test ends.
// Without the variable the test is skipped, or fails in CI
// (testtool.Missing).
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PINSET_TEST_POSTGRES_URL")
	if base == "" {
		testtool.Missing(t, "PINSET_TEST_POSTGRES_URL is not set", `start a database with: eval "$(bash .ci/postgres.sh)"`)
	}
	u, err := store.TestSchema(context.Background(), base, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.DropTestSchema(context.Background(), base, u) })
	return u
}
