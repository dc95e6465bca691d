package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		url, dataDir string
		want         Location
		err          string // substring; "" for success
	}{
		{"", "data", Location{Backend: BackendSQLite, Path: filepath.Join("data", SQLiteFile)}, ""},
		{"", "", Location{Backend: BackendSQLite, Path: filepath.Join("pinset-data", SQLiteFile)}, ""},
		{"pinset.db", "ignored", Location{Backend: BackendSQLite, Path: "pinset.db"}, ""},
		{"./mysql:x", "", Location{Backend: BackendSQLite, Path: "./mysql:x"}, ""},
		{"/var/lib/pinset/pinset.db", "", Location{Backend: BackendSQLite, Path: "/var/lib/pinset/pinset.db"}, ""},
		{`C:\pinset\pinset.db`, "", Location{Backend: BackendSQLite, Path: `C:\pinset\pinset.db`}, ""},
		{"sqlite:data/pinset.db", "", Location{Backend: BackendSQLite, Path: "data/pinset.db"}, ""},
		{"sqlite:/abs/pinset.db", "", Location{Backend: BackendSQLite, Path: "/abs/pinset.db"}, ""},
		{"sqlite:///abs/pinset.db", "", Location{Backend: BackendSQLite, Path: "/abs/pinset.db"}, ""},
		{"SQLite:x.db", "", Location{Backend: BackendSQLite, Path: "x.db"}, ""},
		{"postgres://u:secret@db/pinset", "", Location{Backend: BackendPostgres, URL: "postgres://u:secret@db/pinset"}, ""},
		{"postgresql://db/pinset?sslmode=require", "", Location{Backend: BackendPostgres, URL: "postgresql://db/pinset?sslmode=require"}, ""},
		// Refused rather than turned into a file named after the URL.
		{"mysql://u:secret@x/db", "", Location{}, `database URL scheme "mysql:"`},
		{"mysql://x", "", Location{}, `use postgres://, postgresql://, sqlite:PATH or a file path`},
		{"file:pinset.db", "", Location{}, `scheme "file:"`},
		{"postgres:db", "", Location{}, "want postgres://HOST/DATABASE"},
		{"sqlite://host/x.db", "", Location{}, "names a file, not a host"},
		{"sqlite:", "", Location{}, "names no file"},
		{"sqlite:x.db?mode=ro", "", Location{}, "cannot hold ?"},
	} {
		got, err := ParseLocation(c.url, c.dataDir)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseLocation(%q, %q) = %+v, %v; want %+v", c.url, c.dataDir, got, err, c.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrDatabaseURL) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseLocation(%q) error %v; want ErrDatabaseURL with %q", c.url, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseLocation(%q) error repeats the password: %v", c.url, err)
		}
	}
}

// TestOpenRefusesUnknownScheme: Open creates nothing for mysql://x (it
// used to create a SQLite file "mysql:/x").
func TestOpenRefusesUnknownScheme(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if _, err := Open(context.Background(), "mysql://x", "data"); !errors.Is(err, ErrDatabaseURL) {
		t.Fatalf("Open(mysql://x): %v", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("created %v", es)
	}
}

// TestOpenExistingSQLite: OpenExisting creates neither directory nor file,
// refuses a SQLite file without pinset's schema, and opens what Open
// created.
func TestOpenExistingSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "nonexistent")
	if _, err := OpenExisting(ctx, "", data); !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing data directory: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("OpenExisting created %s", data)
	}

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenExisting(ctx, other, ""); !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), "not a pinset database") {
		t.Fatalf("a foreign SQLite file: %v", err)
	}

	s, err := Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddToken(ctx, "ci", TokenHash{1}, t0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenExisting(ctx, "sqlite:"+DefaultSQLitePath(data), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ts, err := s.Tokens(ctx); err != nil || len(ts) != 1 {
		t.Fatalf("tokens %v %v", ts, err)
	}
}

func TestOpenExistingPostgres(t *testing.T) {
	u := postgresURLForTest(t)
	ctx := context.Background()
	if _, err := OpenExisting(ctx, u, ""); !errors.Is(err, ErrNoStore) {
		t.Fatalf("an empty schema: %v", err)
	}
	s, err := Open(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenExisting(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
