-- pinset schema, version 5 (SQLite): each app's transparency log of the
-- roots and manifests it published (docs/trust.md section 12). Entries and
-- hashes are only ever inserted, in the transaction that publishes the
-- document; the tree size is the number of entries.
CREATE TABLE log_entries (
	app        TEXT NOT NULL,
	idx        INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	version    INTEGER NOT NULL,
	record     BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app, idx),
	UNIQUE (app, kind, version)
);
-- Stored hashes of the RFC 6962 tree, by golang.org/x/mod/sumdb/tlog
-- storage index (leaves and the interior nodes they complete).
CREATE TABLE log_hashes (
	app  TEXT NOT NULL,
	hidx INTEGER NOT NULL,
	hash BLOB NOT NULL,
	PRIMARY KEY (app, hidx)
);
