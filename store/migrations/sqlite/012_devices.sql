-- Device certificates (package device, docs/devices.md): one-time
-- enrollment tokens (only their SHA-256 is stored), the devices an app
-- enrolled, every certificate issued to them (serials for renewal and the
-- CRL), the CRL's number per app, and the audit of every issuance, renewal
-- and revocation. The rotation audit table is keyed to a plan (plan_id NOT
-- NULL REFERENCES rotation_plans), so devices have their own with the same
-- columns for who and why.
CREATE TABLE device_enroll_tokens (
	hash       TEXT PRIMARY KEY,
	app        TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL
);
CREATE TABLE devices (
	app        TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (app, device_id)
);
CREATE TABLE device_certs (
	app        TEXT NOT NULL,
	serial     TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	not_before INTEGER NOT NULL,
	not_after  INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (app, serial)
);
CREATE INDEX device_certs_device ON device_certs (app, device_id);
CREATE INDEX device_certs_revoked ON device_certs (app, revoked_at, not_after);
CREATE TABLE device_crl_numbers (
	app    TEXT PRIMARY KEY,
	number INTEGER NOT NULL
);
CREATE TABLE device_audit (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	app       TEXT NOT NULL,
	device_id TEXT NOT NULL,
	at        INTEGER NOT NULL,
	what      TEXT NOT NULL,
	serial    TEXT NOT NULL,
	why       TEXT NOT NULL,
	actor     TEXT NOT NULL
);
CREATE INDEX device_audit_device ON device_audit (app, device_id, id);
