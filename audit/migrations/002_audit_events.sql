-- The audit trail: one row per event of stream KEYLEDGER, written in the
-- same transaction as the event's leaf in tlog_hashes. Times are UTC text
-- 2006-01-02T15:04:05.000Z (sorts as text). detail is JSON.
CREATE TABLE audit_events (
	seq       INTEGER PRIMARY KEY, -- stream sequence = leaf index + 1
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	actor_key TEXT NOT NULL,       -- '' when keyledger acted itself
	action    TEXT NOT NULL,       -- key.issued, user.registered, settings.changed, audit.checkpoint, …
	key_id    TEXT NOT NULL,       -- '' when the event names no key
	owner     TEXT NOT NULL,       -- '' for settings and checkpoints
	source    TEXT NOT NULL,
	detail    TEXT NOT NULL,       -- JSON object ('{}' for none)
	leaf_hash BLOB NOT NULL
);
-- Pages run newest first by (at, seq); each filter has an index in that
-- order, so a filtered page with or without a time range is one range scan.
CREATE INDEX audit_events_key ON audit_events (key_id, at, seq);
CREATE INDEX audit_events_owner ON audit_events (owner, at, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, at, seq);
CREATE INDEX audit_events_action ON audit_events (action, at, seq);
CREATE INDEX audit_events_at ON audit_events (at, seq);
