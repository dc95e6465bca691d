-- pinset schema, version 2 (SQLite): certificates stored once, per-app
-- report quotas, report arrivals counted per minute. Times are Unix seconds.

-- Certificates of reported chains, once each, keyed by the hex SHA-256 of
-- their DER. Reports refer to them from their normalised JSON ("sha256:HEX"
-- in place of a PEM) and from raw_refs (where the PEM string was cut out of
-- the raw body); report_certs holds the references, so that a certificate
-- no report refers to any more is deleted.
CREATE TABLE certificates (
	sha256     TEXT PRIMARY KEY,
	der        BLOB NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE report_certs (
	report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	cert      TEXT NOT NULL REFERENCES certificates(sha256),
	PRIMARY KEY (report_id, cert)
);
CREATE INDEX report_certs_cert ON report_certs (cert);

-- fingerprint: the dedup key without its day (report.Report.Fingerprint);
-- raw_refs: JSON list of the certificate strings cut out of raw;
-- size: the bytes the report counts against its app's quota.
ALTER TABLE reports ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN raw_refs TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE reports SET fingerprint = dedup_key, size = length(raw) + length(CAST(normalized AS BLOB));
CREATE INDEX reports_app_fingerprint ON reports (app, fingerprint);
CREATE INDEX reports_last_seen ON reports (last_seen);

-- Rows and bytes each app's reports hold, kept in the transactions that
-- change them: the quota check is one conditional UPDATE.
CREATE TABLE report_usage (
	app     TEXT PRIMARY KEY,
	n_rows  INTEGER NOT NULL,
	n_bytes INTEGER NOT NULL
);
INSERT INTO report_usage (app, n_rows, n_bytes) SELECT app, COUNT(*), SUM(size) FROM reports GROUP BY app;

-- Reports received per app, host and minute of arrival (duplicates and
-- reports dropped by a quota included): what the report-spike alert counts.
CREATE TABLE report_events (
	app    TEXT NOT NULL,
	host   TEXT NOT NULL,
	minute INTEGER NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (app, host, minute)
);
CREATE INDEX report_events_minute ON report_events (minute);
