// Package store keeps the pin service's state: apps, their signed roots
// (every version) and manifests (current and history), pin-failure reports
// (normalised and raw), admin tokens and monitoring probe results.
//
// One interface, [Store], has two implementations over the same SQL:
// SQLite (modernc.org/sqlite, the default, one file in the data directory,
// WAL journal with synchronous=FULL so that an acknowledged write survives
// a crash) and PostgreSQL (github.com/jackc/pgx/v5, for several service
// processes sharing one database). [Open] picks one from a URL. Migrations
// are embedded and applied on open.
//
// Publishing is a compare-and-swap on the app's current version
// ([Store.PublishRoot], [Store.PublishManifest]): of two processes
// publishing over the same version, one wins and the other gets
// [ErrConflict], so every process serves the same, complete state.
//
// Documents are stored as the exact signed bytes; the store does not verify
// signatures (the server does, through package trust, before publishing).
package store

import (
	"context"
	"errors"
	"time"

	"pinset.dev/pinset/report"
)

// Errors returned by stores; test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("version conflict: the current version changed; fetch the current state and retry")
	ErrExists   = errors.New("already exists")
)

// Store is the service's storage. Implementations are safe for concurrent
// use by many goroutines and, for PostgreSQL, many processes.
type Store interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string

	// Apps lists every app with its current versions, sorted by id.
	Apps(ctx context.Context) ([]App, error)
	// App returns one app, or ErrNotFound.
	App(ctx context.Context, id string) (App, error)

	// PublishRoot stores root d.Version for d.App if the app's latest root
	// version is still prev (0 for a new app, which it creates);
	// otherwise ErrConflict.
	PublishRoot(ctx context.Context, d Document, prev int64) error
	// Root returns one root version of an app, or ErrNotFound.
	Root(ctx context.Context, app string, version int64) (Document, error)
	// LatestRoot returns the app's newest root, or ErrNotFound.
	LatestRoot(ctx context.Context, app string) (Document, error)

	// PublishManifest makes d the app's current manifest if the current
	// manifest version is still prev (0 when none); otherwise
	// ErrConflict. The app must exist (ErrNotFound).
	PublishManifest(ctx context.Context, d Document, prev int64) error
	// Manifest returns the app's current manifest, or ErrNotFound.
	Manifest(ctx context.Context, app string) (Document, error)
	// ManifestVersion returns one manifest version (history), or ErrNotFound.
	ManifestVersion(ctx context.Context, app string, version int64) (Document, error)
	// Manifests lists the app's manifests, newest first, without bodies.
	Manifests(ctx context.Context, app string) ([]Document, error)

	// AddReport stores a report durably (it is committed when AddReport
	// returns nil). A report whose DedupKey is already stored increments
	// that row's count instead; dup says so (its raw body is kept as a
	// sample when among the first SampleFirst or the latest). When the app's quota is full
	// (see ReportLimits) a repeat of a stored failure is counted on that
	// row (dup), stored repeats make room, or the report is refused with
	// a *QuotaError (errors.Is ErrQuota); its arrival is counted anyway.
	AddReport(ctx context.Context, r *report.Report, raw []byte, now time.Time) (id int64, dup bool, err error)
	// ReportEvents counts the reports that arrived for app per host in
	// [since, until), to the minute, by arrival time: duplicates and
	// reports a quota refused included.
	ReportEvents(ctx context.Context, app string, since, until time.Time) (map[string]int64, error)
	// ReportCounts returns the counters kept on ingest for app in
	// [since, until), to the minute of arrival: reports per host, served
	// key, app version and platform, duplicates and reports a quota
	// refused included (ingest.go); at most limit rows (0 or more than
	// MaxReportCounts: MaxReportCounts), oldest minute first.
	ReportCounts(ctx context.Context, app string, since, until time.Time, limit int) ([]ReportCount, error)
	// ReportSamples returns the raw bodies kept for a stored report: its
	// first arrivals (at most SampleFirst) and the latest (Arrival 0).
	ReportSamples(ctx context.Context, id int64) ([]Sample, error)
	// ReportUsage returns what the app's stored reports hold against its
	// quota.
	ReportUsage(ctx context.Context, app string) (Usage, error)
	// PruneReports deletes reports past their retention (a batch per
	// call; it returns how many) and old arrival counts. AddReport also
	// prunes, at most once a minute of report time.
	PruneReports(ctx context.Context, now time.Time) (int64, error)
	// ReportDrops returns the reports dropped by this process so far,
	// per reason (every one of DropReasons, zeros included).
	ReportDrops() map[string]int64
	// Reports returns the stored reports matching q, newest first.
	Reports(ctx context.Context, q ReportQuery) ([]StoredReport, error)
	// RawReport returns the body a report arrived with.
	RawReport(ctx context.Context, id int64) ([]byte, error)
	// Aggregate counts the reports matching q (ignoring Limit) per host,
	// presented pin, app version and UTC day.
	Aggregate(ctx context.Context, q ReportQuery) (Aggregates, error)

	// AddToken stores a new admin token's hash under a unique name
	// (ErrExists when the name was ever used).
	AddToken(ctx context.Context, name string, hash TokenHash, now time.Time) error
	// Tokens lists tokens (names and dates, never hashes).
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token by name (ErrNotFound if unknown or
	// already revoked).
	RevokeToken(ctx context.Context, name string, now time.Time) error
	// CheckToken returns the name of the live token whose hash equals
	// HashToken(secret), comparing in constant time, or ErrNotFound.
	CheckToken(ctx context.Context, secret string) (string, error)

	// AddProbeResults appends monitoring results.
	AddProbeResults(ctx context.Context, rs []ProbeResult) error
	// ProbeResults returns results for a host (all hosts when empty) at or
	// after since, newest first, at most limit (0: 1000).
	ProbeResults(ctx context.Context, host string, since time.Time, limit int) ([]ProbeResult, error)

	AdoptionStore // adoption.go
	RotationStore // rotate.go
	// The transparency log, appended to by PublishRoot and PublishManifest.
	LogStore
	ProbeStore // console.go
	// Device certificates (package device).
	DeviceStore // device.go
}

// App is one app's current state.
type App struct {
	ID              string    `json:"id"`
	RootVersion     int64     `json:"root_version"`
	ManifestVersion int64     `json:"manifest_version"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Document is a stored signed root or manifest.
type Document struct {
	App         string    `json:"app"`
	Version     int64     `json:"version"`
	RootVersion int64     `json:"root_version,omitempty"` // manifests: the root they were signed under
	Body        []byte    `json:"-"`                      // the exact signed envelope bytes
	SHA256      string    `json:"sha256"`                 // hex SHA-256 of Body
	IssuedAt    time.Time `json:"issued_at,omitzero"`
	Expires     time.Time `json:"expires"`
	Source      string    `json:"source,omitempty"` // manifests: "publish" or "resign"
	CreatedAt   time.Time `json:"created_at"`
}

// ReportQuery selects reports. Zero fields do not filter.
type ReportQuery struct {
	App      string
	Host     string
	Platform string
	// AppVersion selects the reports of one app version.
	AppVersion string
	Since      time.Time // report time >= Since
	Until      time.Time // report time < Until
	Limit      int       // Reports only; 0 means 100, capped at 1000
	BeforeID   int64     // Reports only: paging, ids below this
}

// StoredReport is a report as stored, with its dedup counters.
type StoredReport struct {
	ID        int64         `json:"id"`
	Count     int64         `json:"count"`
	FirstSeen time.Time     `json:"first_seen"`
	LastSeen  time.Time     `json:"last_seen"`
	Report    report.Report `json:"report"`
}

// Count is one aggregate bucket: distinct stored reports and the events
// they stand for (their summed dedup counts).
type Count struct {
	Key     string `json:"key"`
	Reports int64  `json:"reports"`
	Events  int64  `json:"events"`
}

// Aggregates are report counts per dimension, largest first (days in order).
type Aggregates struct {
	Total        Count   `json:"total"`
	ByHost       []Count `json:"by_host"`
	ByPin        []Count `json:"by_presented_pin"`
	ByAppVersion []Count `json:"by_app_version"`
	ByPlatform   []Count `json:"by_platform"`
	ByDay        []Count `json:"by_day"`
}

// Token describes an admin token.
type Token struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// ProbeResult is one monitoring probe of one address of a host.
type ProbeResult struct {
	App      string    `json:"app"`
	Host     string    `json:"host"`
	Port     int       `json:"port"`
	Addr     string    `json:"addr"`
	Time     time.Time `json:"time"`
	OK       bool      `json:"ok"`
	NotAfter time.Time `json:"not_after,omitzero"`
	Covered  bool      `json:"covered"`
	Detail   []byte    `json:"detail,omitempty"` // JSON
}
