-- Read models built from the KEYLEDGER stream. Times are UTC text in the
-- fixed format 2006-01-02T15:04:05.000Z, so they sort as text.

CREATE TABLE IF NOT EXISTS projection_state (
	name     TEXT PRIMARY KEY,
	last_seq INTEGER NOT NULL -- last stream sequence applied, committed with the rows
);
INSERT OR IGNORE INTO projection_state (name, last_seq) VALUES ('ledger', 0);

CREATE TABLE settings (
	id                       INTEGER PRIMARY KEY CHECK (id = 1),
	enabled                  INTEGER NOT NULL,
	max_expiry               TEXT NOT NULL,
	default_expiry           TEXT NOT NULL,
	inactivity_expiry        TEXT NOT NULL,
	max_active_keys_per_user INTEGER NOT NULL,
	updated_at               TEXT,
	updated_by               TEXT
);

CREATE TABLE users (
	user_id    TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL,   -- person | service
	roles      TEXT NOT NULL,   -- JSON array
	active     INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX users_name ON users (name);

CREATE TABLE keys (
	key_id        TEXT PRIMARY KEY, -- ULID: sorts by creation time
	owner         TEXT NOT NULL REFERENCES users (user_id),
	name          TEXT NOT NULL,
	description   TEXT NOT NULL,
	scopes        TEXT NOT NULL,    -- JSON array
	allowed_cidrs TEXT NOT NULL,    -- JSON array
	rate_limit    TEXT,             -- JSON {"limit","per"} or NULL
	status        TEXT NOT NULL,    -- active | expired | revoked | deleted (as recorded)
	secret_sha256 TEXT NOT NULL,    -- hex SHA-256 of the secret; the secret is never stored
	created_at    TEXT NOT NULL,
	created_by    TEXT NOT NULL,
	expires_at    TEXT,             -- NULL: never
	last_used_at  TEXT,
	revoked_at    TEXT,
	revoke_reason TEXT,
	deleted_at    TEXT,
	updated_at    TEXT NOT NULL,
	seq           INTEGER NOT NULL  -- stream sequence of the last event applied to this key
);
CREATE INDEX keys_owner ON keys (owner, key_id);
CREATE INDEX keys_status_expires ON keys (status, expires_at);
