-- pinset schema, version 10 (PostgreSQL): reports aggregated on ingest, and raw
-- samples of a stored report beyond its first. Times are Unix seconds.

-- Arrivals per app, host, served key (the pin of the presented chain's
-- first certificate), app version, platform and minute of arrival, counted
-- in the transaction that acknowledges them (duplicates and reports a quota
-- refused included): a storm of identical failures adds to a few rows.
CREATE TABLE report_counts (
	app         TEXT NOT NULL,
	host        TEXT NOT NULL,
	served_pin  TEXT NOT NULL,
	app_version TEXT NOT NULL,
	platform    TEXT NOT NULL,
	minute      BIGINT NOT NULL,
	count       BIGINT NOT NULL,
	PRIMARY KEY (app, host, served_pin, app_version, platform, minute)
);
CREATE INDEX report_counts_minute ON report_counts (minute);

-- Raw bodies of a stored report (one dedup key) beyond the first, which
-- its row holds: slots 1 to 3 are the 2nd to 4th arrivals, slot 0 the
-- latest (replaced at most once a minute). Certificates are cut out as in
-- reports.raw (raw_refs) and referenced from report_certs; the bytes count
-- in the report's size.
CREATE TABLE report_samples (
	report_id BIGINT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	slot      BIGINT NOT NULL,
	received  BIGINT NOT NULL,
	raw       BYTEA NOT NULL,
	raw_refs  TEXT NOT NULL,
	size      BIGINT NOT NULL,
	PRIMARY KEY (report_id, slot)
);

-- When the latest sample of the report was written (0: never), returned by
-- the statement that counts an arrival, so that deciding whether to
-- replace it costs no extra read.
ALTER TABLE reports ADD COLUMN sampled BIGINT NOT NULL DEFAULT 0;
