package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrDatabaseURL is returned for a database setting that names no store
// pinset can open (an unknown scheme such as mysql://, a malformed
// sqlite: URL). The message never repeats the URL, which may hold a
// password.
var ErrDatabaseURL = errors.New("unsupported database URL")

// ErrNoStore is returned by OpenExisting when nothing is there yet (no
// SQLite file, or a database without pinset's schema): only 'pinset
// serve' (or an explicit --init) creates a store.
var ErrNoStore = errors.New("no pinset store")

// Backends.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Location is where a store lives, as decided by ParseLocation.
type Location struct {
	Backend string // BackendSQLite or BackendPostgres
	Path    string // the SQLite database file
	URL     string // the PostgreSQL URL; may hold a password: never print it
}

// ParseLocation decides what a database setting names; it is the one place
// that decision is made. An empty url means SQLite in dataDir/pinset.db.
// "postgres://..." and "postgresql://..." are PostgreSQL. SQLite is a file
// path ("pinset.db", "./data/pinset.db", "/var/lib/pinset/pinset.db") or a
// sqlite: URL ("sqlite:data/pinset.db", "sqlite:///var/lib/pinset.db").
// Any other scheme ("mysql://x", "file:x", "sqlite://host/x") is an error
// wrapping ErrDatabaseURL, rather than a file named after the URL. A file
// whose name looks like a scheme is written "./mysql:x".
func ParseLocation(url, dataDir string) (Location, error) {
	if url == "" {
		return Location{Backend: BackendSQLite, Path: DefaultSQLitePath(dataDir)}, nil
	}
	scheme, rest, ok := cutScheme(url)
	if !ok {
		return sqliteLocation(url)
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return Location{}, fmt.Errorf("database URL: want %s://HOST/DATABASE: %w", strings.ToLower(scheme), ErrDatabaseURL)
		}
		return Location{Backend: BackendPostgres, URL: url}, nil
	case "sqlite":
		switch {
		case strings.HasPrefix(rest, "///"):
			rest = rest[2:] // sqlite:///abs/path: an empty host, an absolute path
		case strings.HasPrefix(rest, "//"):
			return Location{}, fmt.Errorf("database URL sqlite://: a SQLite URL names a file, not a host; write sqlite:PATH or sqlite:///ABSOLUTE/PATH: %w", ErrDatabaseURL)
		}
		return sqliteLocation(rest)
	default:
		return Location{}, fmt.Errorf("database URL scheme %q: use postgres://, postgresql://, sqlite:PATH or a file path: %w", scheme+":", ErrDatabaseURL)
	}
}

func sqliteLocation(path string) (Location, error) {
	switch {
	case path == "":
		return Location{}, fmt.Errorf("database URL sqlite: names no file: %w", ErrDatabaseURL)
	case strings.ContainsAny(path, "?#"):
		return Location{}, fmt.Errorf("database %q: a SQLite file name cannot hold ? or # (options are not supported): %w", path, ErrDatabaseURL)
	}
	return Location{Backend: BackendSQLite, Path: path}, nil
}

// cutScheme splits an RFC 3986 scheme off s. A one-letter "scheme" is a
// Windows drive ("C:\data\pinset.db"), so it is not one.
func cutScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return "", s, false
	}
	for j, c := range s[:i] {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", s, false
		}
	}
	return s[:i], s[i+1:], true
}

// String describes the location without secrets: the SQLite file, or
// "postgres" (the URL may hold a password).
func (l Location) String() string {
	if l.Backend == BackendSQLite {
		return l.Path
	}
	return "postgres"
}

// Open opens the store a database setting names (see ParseLocation),
// creating and migrating it: the SQLite directory (0700) and file (0600),
// or pinset's schema in a PostgreSQL database. It is for 'pinset serve'.
func Open(ctx context.Context, url, dataDir string, opts ...Option) (Store, error) {
	loc, err := ParseLocation(url, dataDir)
	if err != nil {
		return nil, err
	}
	return loc.open(ctx, true, opts...)
}

// OpenExisting opens a store that already exists, as created by Open:
// the SQLite file must be there and hold pinset's schema, a PostgreSQL
// database must hold it; otherwise the error wraps ErrNoStore and nothing
// is created. Pending migrations are applied, as Open does. It is for the
// commands that work on a service's store from outside (pinset token).
func OpenExisting(ctx context.Context, url, dataDir string, opts ...Option) (Store, error) {
	loc, err := ParseLocation(url, dataDir)
	if err != nil {
		return nil, err
	}
	return loc.open(ctx, false, opts...)
}

func (l Location) open(ctx context.Context, create bool, opts ...Option) (Store, error) {
	if l.Backend == BackendPostgres {
		return openPostgres(ctx, l.URL, create, opts...)
	}
	return openSQLite(ctx, l.Path, create, opts...)
}

// hasSchema reports whether pinset's schema (its migrations table) is in
// the database.
func hasSchema(ctx context.Context, b backend, query string) error {
	var n int64
	if err := b.queryRow(ctx, query).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("not a pinset database (no schema): %w", ErrNoStore)
	}
	return nil
}
