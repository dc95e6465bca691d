-- pinset schema, version 14 (SQLite): the counters a report storm bumps
-- move out of the wide reports row into a narrow table. An update of a
-- column an index holds rewrites that index's entry: with count in the
-- console's covering index and last_seen in the prune's, every repeat
-- rewrote two index entries of reports besides its wide row.
--
-- report_tallies: one row per stored report. count: its arrivals;
-- last_seen: the latest (Unix seconds); sampled: when its latest raw
-- sample was written (0: never). last_hour is last_seen / 3600, the only
-- indexed counter (the prune finds old reports by it): it changes at most
-- once an hour, so that a bump touches no index.
CREATE TABLE report_tallies (
	report_id INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
	count     INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	last_hour INTEGER NOT NULL,
	sampled   INTEGER NOT NULL
);
INSERT INTO report_tallies (report_id, count, last_seen, last_hour, sampled)
	SELECT id, count, last_seen, last_seen / 3600, sampled FROM reports;
CREATE INDEX report_tallies_last_hour ON report_tallies (last_hour);

-- The console's aggregate stays index-only on reports (every SQLite index
-- holds the row's id) and joins the tallies by id.
DROP INDEX reports_app_agg;
DROP INDEX reports_last_seen;
CREATE INDEX reports_app_agg ON reports (app, host, report_time, app_version, platform, presented_pins);
ALTER TABLE reports DROP COLUMN count;
ALTER TABLE reports DROP COLUMN last_seen;
ALTER TABLE reports DROP COLUMN sampled;
