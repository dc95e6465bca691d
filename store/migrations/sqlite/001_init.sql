-- pinset schema, version 1 (SQLite). Times are Unix seconds (UTC).
CREATE TABLE apps (
	id               TEXT PRIMARY KEY,
	root_version     INTEGER NOT NULL DEFAULT 0,
	manifest_version INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
CREATE TABLE roots (
	app        TEXT NOT NULL REFERENCES apps(id),
	version    INTEGER NOT NULL,
	body       BLOB NOT NULL,
	sha256     TEXT NOT NULL,
	expires    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app, version)
);
CREATE TABLE manifests (
	app          TEXT NOT NULL REFERENCES apps(id),
	version      INTEGER NOT NULL,
	root_version INTEGER NOT NULL,
	body         BLOB NOT NULL,
	sha256       TEXT NOT NULL,
	issued_at    INTEGER NOT NULL,
	expires      INTEGER NOT NULL,
	source       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (app, version)
);
CREATE TABLE reports (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	app               TEXT NOT NULL,
	host              TEXT NOT NULL,
	port              INTEGER NOT NULL,
	platform          TEXT NOT NULL,
	app_version       TEXT NOT NULL,
	format            TEXT NOT NULL,
	validation_result INTEGER NOT NULL,
	enforce           INTEGER NOT NULL,
	report_time       INTEGER NOT NULL,
	first_seen        INTEGER NOT NULL,
	last_seen         INTEGER NOT NULL,
	count             INTEGER NOT NULL,
	dedup_key         TEXT NOT NULL UNIQUE,
	presented_pins    TEXT NOT NULL,
	normalized        TEXT NOT NULL,
	raw               BLOB NOT NULL
);
CREATE INDEX reports_app_time ON reports (app, report_time);
CREATE INDEX reports_app_host ON reports (app, host);
CREATE TABLE tokens (
	name       TEXT PRIMARY KEY,
	hash       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
CREATE TABLE probe_results (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	app       TEXT NOT NULL,
	host      TEXT NOT NULL,
	port      INTEGER NOT NULL,
	addr      TEXT NOT NULL,
	time      INTEGER NOT NULL,
	ok        INTEGER NOT NULL,
	not_after INTEGER NOT NULL,
	covered   INTEGER NOT NULL,
	detail    TEXT NOT NULL
);
CREATE INDEX probe_results_host_time ON probe_results (host, time);
