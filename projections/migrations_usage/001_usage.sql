-- Verifications per key per minute, summed over every instance's
-- UsageRecorded events from the KEYLEDGER_USAGE stream.
INSERT OR IGNORE INTO projection_state (name, last_seq) VALUES ('usage', 0);

CREATE TABLE usage (
	key_id        TEXT NOT NULL,
	minute        TEXT NOT NULL, -- start of the minute
	valid         INTEGER NOT NULL DEFAULT 0,
	not_found     INTEGER NOT NULL DEFAULT 0, -- wrong secret for this key
	revoked       INTEGER NOT NULL DEFAULT 0,
	expired       INTEGER NOT NULL DEFAULT 0,
	forbidden_ip  INTEGER NOT NULL DEFAULT 0,
	missing_scope INTEGER NOT NULL DEFAULT 0,
	rate_limited  INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, minute)
);
CREATE INDEX usage_minute ON usage (minute);
