-- Each key's latest use, as the usage stream reports it, kept apart from
-- keys: when ledger.db is rebuilt, the usage projection may catch up before
-- the ledger's has created the key's row, and the key must start with its
-- last use all the same (inactivity expiry counts from it).
CREATE TABLE key_last_used (
	key_id TEXT PRIMARY KEY,
	at     TEXT NOT NULL
) WITHOUT ROWID;
