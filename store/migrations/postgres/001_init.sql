-- pinset schema, version 1 (PostgreSQL). Times are Unix seconds (UTC).
CREATE TABLE apps (
	id               TEXT PRIMARY KEY,
	root_version     BIGINT NOT NULL DEFAULT 0,
	manifest_version BIGINT NOT NULL DEFAULT 0,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL
);
CREATE TABLE roots (
	app        TEXT NOT NULL REFERENCES apps(id),
	version    BIGINT NOT NULL,
	body       BYTEA NOT NULL,
	sha256     TEXT NOT NULL,
	expires    BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (app, version)
);
CREATE TABLE manifests (
	app          TEXT NOT NULL REFERENCES apps(id),
	version      BIGINT NOT NULL,
	root_version BIGINT NOT NULL,
	body         BYTEA NOT NULL,
	sha256       TEXT NOT NULL,
	issued_at    BIGINT NOT NULL,
	expires      BIGINT NOT NULL,
	source       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (app, version)
);
CREATE TABLE reports (
	id                BIGSERIAL PRIMARY KEY,
	app               TEXT NOT NULL,
	host              TEXT NOT NULL,
	port              BIGINT NOT NULL,
	platform          TEXT NOT NULL,
	app_version       TEXT NOT NULL,
	format            TEXT NOT NULL,
	validation_result BIGINT NOT NULL,
	enforce           BIGINT NOT NULL,
	report_time       BIGINT NOT NULL,
	first_seen        BIGINT NOT NULL,
	last_seen         BIGINT NOT NULL,
	count             BIGINT NOT NULL,
	dedup_key         TEXT NOT NULL UNIQUE,
	presented_pins    TEXT NOT NULL,
	normalized        TEXT NOT NULL,
	raw               BYTEA NOT NULL
);
CREATE INDEX reports_app_time ON reports (app, report_time);
CREATE INDEX reports_app_host ON reports (app, host);
CREATE TABLE tokens (
	name       TEXT PRIMARY KEY,
	hash       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);
CREATE TABLE probe_results (
	id        BIGSERIAL PRIMARY KEY,
	app       TEXT NOT NULL,
	host      TEXT NOT NULL,
	port      BIGINT NOT NULL,
	addr      TEXT NOT NULL,
	time      BIGINT NOT NULL,
	ok        BIGINT NOT NULL,
	not_after BIGINT NOT NULL,
	covered   BIGINT NOT NULL,
	detail    TEXT NOT NULL
);
CREATE INDEX probe_results_host_time ON probe_results (host, time);
