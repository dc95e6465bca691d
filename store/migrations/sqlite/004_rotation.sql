-- Rotation plans (package rotate): one row per plan, the plan itself as
-- JSON, and one audit row per transition. At most one active plan per
-- (app, host pattern).
CREATE TABLE rotation_plans (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	app        TEXT NOT NULL,
	host       TEXT NOT NULL,
	state      TEXT NOT NULL,
	active     INTEGER NOT NULL,
	rev        INTEGER NOT NULL,
	data       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX rotation_plans_active ON rotation_plans (app, host) WHERE active = 1;
CREATE TABLE rotation_audit (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	plan_id    INTEGER NOT NULL REFERENCES rotation_plans(id),
	at         INTEGER NOT NULL,
	from_state TEXT NOT NULL,
	to_state   TEXT NOT NULL,
	what       TEXT NOT NULL,
	why        TEXT NOT NULL,
	token      TEXT NOT NULL
);
CREATE INDEX rotation_audit_plan ON rotation_audit (plan_id, id);
