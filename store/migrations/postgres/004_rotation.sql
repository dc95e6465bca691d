-- Rotation plans (package rotate): one row per plan, the plan itself as
-- JSON, and one audit row per transition. At most one active plan per
-- (app, host pattern).
CREATE TABLE rotation_plans (
	id         BIGSERIAL PRIMARY KEY,
	app        TEXT NOT NULL,
	host       TEXT NOT NULL,
	state      TEXT NOT NULL,
	active     BIGINT NOT NULL,
	rev        BIGINT NOT NULL,
	data       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX rotation_plans_active ON rotation_plans (app, host) WHERE active = 1;
CREATE TABLE rotation_audit (
	id         BIGSERIAL PRIMARY KEY,
	plan_id    BIGINT NOT NULL REFERENCES rotation_plans(id),
	at         BIGINT NOT NULL,
	from_state TEXT NOT NULL,
	to_state   TEXT NOT NULL,
	what       TEXT NOT NULL,
	why        TEXT NOT NULL,
	token      TEXT NOT NULL
);
CREATE INDEX rotation_audit_plan ON rotation_audit (plan_id, id);
