-- The web console reads an app's newest monitor round and its timeline
-- (store.ProbeStore) by app and time.
CREATE INDEX probe_results_app_time ON probe_results (app, time);
