-- A rename, a roles change or a settings change records what it changed
-- from, the latest earlier row of its kind (applier.go, prevQueries). These
-- partial indexes hold only those rows, in stream order, so that lookup is
-- one step however many times a key was renamed or how many rows of other
-- kinds (denied attempts, say) name the same key; through the filter
-- indexes, which run by time, it sorted all of them on every change.
CREATE INDEX audit_events_key_names ON audit_events (key_id, seq) WHERE action IN ('key.issued', 'key.renamed');
CREATE INDEX audit_events_user_roles ON audit_events (owner, seq) WHERE action IN ('user.registered', 'user.roles_changed');
CREATE INDEX audit_events_settings ON audit_events (seq) WHERE action = 'settings.changed';
