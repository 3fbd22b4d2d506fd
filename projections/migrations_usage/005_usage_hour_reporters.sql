-- Who reported a key's use, per UTC hour: keyledger's instances by their
-- instance ID, gateways as gateway:<name>, with the attempts (valid and
-- refused) each reported. A gateway credential may report use of any key
-- it knows; the trace names the reporter, so that an admin can tell a
-- gateway's report from keyledger's own before revoking on it.
CREATE TABLE usage_hour_reporters (
	key_id   TEXT NOT NULL,
	hour     TEXT NOT NULL,
	reporter TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	PRIMARY KEY (key_id, hour, reporter)
) WITHOUT ROWID;
