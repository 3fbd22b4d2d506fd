-- Usage per key and UTC hour, summed as the per-minute rows are written,
-- so that a key's trace (audit trace) reads one row an hour however busy
-- the key was. hour is 2006-01-02T15:00:00.000Z. (An older ledger.db is
-- rebuilt from the streams, as for any schema change.)
CREATE TABLE usage_hours (
	key_id        TEXT NOT NULL,
	hour          TEXT NOT NULL,
	valid         INTEGER NOT NULL DEFAULT 0,
	not_found     INTEGER NOT NULL DEFAULT 0,
	revoked       INTEGER NOT NULL DEFAULT 0,
	expired       INTEGER NOT NULL DEFAULT 0,
	forbidden_ip  INTEGER NOT NULL DEFAULT 0,
	missing_scope INTEGER NOT NULL DEFAULT 0,
	rate_limited  INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, hour)
) WITHOUT ROWID;
CREATE TABLE usage_hour_sources (
	key_id TEXT NOT NULL,
	hour   TEXT NOT NULL,
	ip     TEXT NOT NULL,    -- an address, or '*' for attempts from further addresses
	count  INTEGER NOT NULL,
	PRIMARY KEY (key_id, hour, ip)
) WITHOUT ROWID;
