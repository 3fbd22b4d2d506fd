-- Where each key was used from, per minute: the addresses verifications
-- named (at most verifier.MaxSources per key, instance and minute; the rest
-- are counted under '*'), summed over instances.
CREATE TABLE usage_sources (
	key_id TEXT NOT NULL,
	minute TEXT NOT NULL,
	ip     TEXT NOT NULL,    -- an address, or '*' for attempts from further addresses
	count  INTEGER NOT NULL,
	PRIMARY KEY (key_id, minute, ip)
) WITHOUT ROWID;
CREATE INDEX usage_sources_minute ON usage_sources (minute);
