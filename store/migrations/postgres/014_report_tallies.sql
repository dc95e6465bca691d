-- pinset schema, version 14 (PostgreSQL): the counters a report storm bumps
-- move out of the wide reports row into a narrow table. A column that an
-- index holds cannot change in a heap-only (HOT) update: with count in the
-- console's covering index and last_seen in the prune's, every repeat wrote
-- a new entry into each index of reports, which vacuum does not shrink.
--
-- report_tallies: one row per stored report. count: its arrivals;
-- last_seen: the latest (Unix seconds); sampled: when its latest raw
-- sample was written (0: never). last_hour is last_seen / 3600, the only
-- indexed counter (the prune finds old reports by it): it changes at most
-- once an hour, so that a bump is a heap-only update that touches no index.
-- The free space fillfactor leaves in each page holds the new versions.
CREATE TABLE report_tallies (
	report_id BIGINT PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
	count     BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	last_hour BIGINT NOT NULL,
	sampled   BIGINT NOT NULL
) WITH (fillfactor = 70);
INSERT INTO report_tallies (report_id, count, last_seen, last_hour, sampled)
	SELECT id, count, last_seen, last_seen / 3600, sampled FROM reports;
CREATE INDEX report_tallies_last_hour ON report_tallies (last_hour);

-- The console's aggregate stays index-only on reports and joins the
-- tallies by id.
DROP INDEX reports_app_agg;
DROP INDEX reports_last_seen;
CREATE INDEX reports_app_agg ON reports (app, host, report_time, app_version, platform, presented_pins, id);
ALTER TABLE reports DROP COLUMN count, DROP COLUMN last_seen, DROP COLUMN sampled;
