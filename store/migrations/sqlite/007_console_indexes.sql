-- The web console reads one host's timeline by app, host and time
-- (store.ProbeStore.ProbeTimeline).
CREATE INDEX probe_results_app_host_time ON probe_results (app, host, time);
-- Report aggregates (store.Aggregate: the console's reports page, the admin
-- API) read only these columns: a covering index spares a visit to every
-- row, whose raw body and normalised JSON make it large; it also finds one
-- host's reports.
CREATE INDEX reports_app_agg ON reports (app, host, report_time, app_version, platform, presented_pins, count);
