-- When a key last became active again: the inactivity clock of
-- keyledger.KeyClock starts at the later of created_at and regenerated_at.
ALTER TABLE keys ADD COLUMN regenerated_at TEXT; -- NULL: never regenerated
