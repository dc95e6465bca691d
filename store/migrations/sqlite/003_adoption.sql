-- Adoption telemetry: the last manifest fetch of each install (or of each
-- anonymous client key), one row per (app, install), pruned to the window.
CREATE TABLE adoption_installs (
	app              TEXT NOT NULL,
	install          TEXT NOT NULL,
	root_version     INTEGER NOT NULL,
	manifest_version INTEGER NOT NULL,
	sdk              TEXT NOT NULL,
	seen_at          INTEGER NOT NULL,
	PRIMARY KEY (app, install)
);
CREATE INDEX adoption_installs_app_seen ON adoption_installs (app, seen_at);
CREATE INDEX adoption_installs_seen ON adoption_installs (seen_at);
