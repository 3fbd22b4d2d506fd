-- What the write path needs to refill an aggregate's decision state from
-- SQLite instead of replaying the stream: the last stream sequence of each
-- aggregate's subjects, and which commands each aggregate has applied (so a
-- retried command is recognised past JetStream's two-minute dedup window,
-- without holding every command ID in memory).
ALTER TABLE users ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;   -- last sequence on keyledger.events.user.<id>.>
ALTER TABLE settings ADD COLUMN seq INTEGER NOT NULL DEFAULT 0; -- last sequence on keyledger.events.settings.>

CREATE TABLE commands (
	aggregate  TEXT NOT NULL,    -- an owner's user ID, or 'settings'
	command_id TEXT NOT NULL,    -- the caller's Idempotency-Key (with #N for later chunks)
	key_id     TEXT NOT NULL,    -- the key the command last touched ('' for none)
	seq        INTEGER NOT NULL, -- stream sequence of its last event
	PRIMARY KEY (aggregate, command_id)
) WITHOUT ROWID;
