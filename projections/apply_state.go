package projections

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/keyledger/keyledger/events"
)

// stateApplier projects users, keys, settings and the write path's
// bookkeeping (each aggregate's last sequence, the commands it applied) from
// stream KEYLEDGER. Its tables are one applier because they refer to each
// other (a key's owner is a user; a user's seq moves with its keys' events).
//
// Its statements run with tx.Exec: the driver's statement cache (see the
// DSN in openAt) compiles each once per connection, not once per batch.
type stateApplier struct {
	// userSeq is each user's last sequence in the batch being applied:
	// written once per user at the end of the batch, not once per event.
	userSeq map[string]uint64
}

// ApplyBatch implements BatchApplier.
func (st *stateApplier) ApplyBatch(tx *sql.Tx, batch []events.Recorded) error {
	st.userSeq = make(map[string]uint64)
	defer func() { st.userSeq = nil }()
	for _, r := range batch {
		if err := st.Apply(tx, r); err != nil {
			return err
		}
	}
	for user, seq := range st.userSeq {
		if _, err := tx.Exec(`UPDATE users SET seq = ? WHERE user_id = ?`, seq, user); err != nil {
			return fmt.Errorf("seq %d: %w", seq, err)
		}
	}
	return nil
}

// Name implements Applier.
func (*stateApplier) Name() string { return "state" }

// Migrations implements Applier.
func (*stateApplier) Migrations() fs.FS { return sub(stateMigrations, "migrations") }

// usageApplier projects KEYLEDGER_USAGE's per-minute counts into usage and
// each key's last_used_at.
type usageApplier struct{}

// Name implements Applier.
func (*usageApplier) Name() string { return "usage" }

// Migrations implements Applier.
func (*usageApplier) Migrations() fs.FS { return sub(usageMigrations, "migrations_usage") }

// Apply implements Applier.
func (u *usageApplier) Apply(tx *sql.Tx, r events.Recorded) error {
	e, ok := r.Event.(*events.UsageRecorded)
	if !ok {
		return fmt.Errorf("seq %d (%s): usage projection got %T", r.Seq, r.Subject, r.Event)
	}
	if err := u.applyUsage(tx, e); err != nil {
		return fmt.Errorf("seq %d (%s): %w", r.Seq, r.Subject, err)
	}
	return nil
}

func sub(fsys fs.FS, dir string) fs.FS {
	f, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	return f
}

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// Apply implements Applier: it writes one event into the read models.
func (st *stateApplier) Apply(tx *sql.Tx, r events.Recorded) error {
	at := ts(r.Event.Base().At)
	var err error
	switch e := r.Event.(type) {
	case *events.SettingsChanged:
		s := e.Settings
		_, err = tx.Exec(`INSERT INTO settings (id, enabled, max_expiry, default_expiry, inactivity_expiry, max_active_keys_per_user, updated_at, updated_by)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, max_expiry = excluded.max_expiry,
				default_expiry = excluded.default_expiry, inactivity_expiry = excluded.inactivity_expiry,
				max_active_keys_per_user = excluded.max_active_keys_per_user,
				updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			s.Enabled, s.MaxExpiry, s.DefaultExpiry, s.InactivityExpiry, s.MaxActiveKeysPerUser, at, e.Actor)
	case *events.UserRegistered:
		_, err = tx.Exec(`INSERT INTO users (user_id, name, kind, roles, active, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)`,
			e.UserID, e.Name, e.Kind, jsonText(e.Roles), at, at)
	case *events.UserRolesChanged:
		err = st.exec1(tx, `UPDATE users SET roles = ?, updated_at = ? WHERE user_id = ?`, jsonText(e.Roles), at, e.UserID)
	case *events.UserDeactivated:
		err = st.exec1(tx, `UPDATE users SET active = 0, updated_at = ? WHERE user_id = ?`, at, e.UserID)
	case *events.KeyIssued:
		var rl any
		if e.RateLimit != nil {
			rl = jsonText(e.RateLimit)
		}
		// The usage projection may have seen the key used before this row
		// exists (a rebuild): it starts with that last use.
		_, err = tx.Exec(`INSERT INTO keys (key_id, owner, name, description, scopes, allowed_cidrs, rate_limit, status,
				secret_sha256, created_at, created_by, expires_at, updated_at, seq, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, (SELECT at FROM key_last_used WHERE key_id = ?))`,
			e.KeyID, e.Owner, e.Name, e.Description, jsonText(e.Scopes), jsonText(e.AllowedCIDRs), rl,
			e.SecretHash, at, e.Actor, tsPtr(e.ExpiresAt), at, r.Seq, e.KeyID)
	case *events.KeyRenamed:
		err = st.exec1(tx, `UPDATE keys SET name = ?, description = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			e.Name, e.Description, at, r.Seq, e.KeyID)
	case *events.KeyRevoked:
		err = st.exec1(tx, `UPDATE keys SET status = 'revoked', revoked_at = ?, revoke_reason = ?, revoked_by = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			at, e.Reason, e.Actor, at, r.Seq, e.KeyID)
	case *events.KeyRegenerated:
		err = st.exec1(tx, `UPDATE keys SET status = 'active', secret_sha256 = ?, revoked_at = NULL, revoke_reason = NULL, revoked_by = NULL,
				regenerated_at = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			e.SecretHash, at, at, r.Seq, e.KeyID)
	case *events.KeyDeleted:
		err = st.exec1(tx, `UPDATE keys SET status = 'deleted', deleted_at = ?, deleted_by = ?, delete_reason = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			at, e.Actor, e.Reason, at, r.Seq, e.KeyID)
	case *events.KeyExpired:
		err = st.exec1(tx, `UPDATE keys SET status = 'expired', updated_at = ?, seq = ? WHERE key_id = ?`, at, r.Seq, e.KeyID)
	case *events.CheckpointSigned, *events.CheckpointCosigned:
		return nil // the audit applier's
	case *events.EventSkipped:
		// Nothing to project: the projector acts on it while halted, and
		// the stream keeps it for the audit log.
	case *events.AccessDenied:
		// Nothing to project but the owner's sequence (below): the audit
		// log keeps it.
	default:
		return fmt.Errorf("seq %d: no projection for %T", r.Seq, r.Event)
	}
	if err == nil {
		err = st.recordAggregate(tx, r)
	}
	if err != nil {
		return fmt.Errorf("seq %d (%s): %w", r.Seq, r.Subject, err)
	}
	return nil
}

// recordAggregate moves the aggregate's last sequence to the event and
// records the command it carries, for the write path to refill from.
func (st *stateApplier) recordAggregate(tx *sql.Tx, r events.Recorded) error {
	aggregate := r.Event.OwnerID()
	var err error
	switch r.Event.(type) {
	case *events.SettingsChanged:
		aggregate = "settings"
		_, err = tx.Exec(`UPDATE settings SET seq = ? WHERE id = 1`, r.Seq)
	default:
		if aggregate == "" {
			return nil
		}
		if st.userSeq != nil {
			st.userSeq[aggregate] = r.Seq // written at the end of the batch
		} else {
			_, err = tx.Exec(`UPDATE users SET seq = ? WHERE user_id = ?`, r.Seq, aggregate)
		}
	}
	if err != nil {
		return err
	}
	if id := r.Event.Base().CommandID; id != "" {
		_, err = tx.Exec(`INSERT INTO commands (aggregate, command_id, key_id, seq) VALUES (?, ?, ?, ?)
			ON CONFLICT (aggregate, command_id) DO UPDATE SET key_id = excluded.key_id, seq = excluded.seq`,
			aggregate, id, r.Event.KeyRef(), r.Seq)
	}
	return err
}

// exec1 runs an update that must touch exactly one row: an event about a row
// the projection lacks means the projection is broken, and must stop.
func (st *stateApplier) exec1(tx *sql.Tx, query string, args ...any) error {
	res, err := tx.Exec(query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("updated %d rows, want 1", n)
	}
	return nil
}

// applyUsage adds one instance's minute of counts to the usage tables (per
// minute, and per hour, with who reported them), and moves the key's last_used_at forward (never
// back).
func (u *usageApplier) applyUsage(tx *sql.Tx, e *events.UsageRecorded) error {
	d := e.Denied
	for _, row := range []struct{ query, at string }{
		{`INSERT INTO usage (key_id, minute, valid, not_found, revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, minute) DO UPDATE SET ` + addCounts, ts(e.Minute)},
		{`INSERT INTO usage_hours (key_id, hour, valid, not_found, revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, hour) DO UPDATE SET ` + addCounts, ts(e.Minute.Truncate(time.Hour))},
	} {
		if _, err := tx.Exec(row.query, e.KeyID, row.at, e.Valid, d["not_found"], d["revoked"], d["expired"], d["forbidden_ip"],
			d["missing_scope"], d["rate_limited"], d["disabled"]); err != nil {
			return err
		}
	}
	if err := u.applySources(tx, e); err != nil {
		return err
	}
	attempts := e.Valid
	for _, n := range d {
		attempts += n
	}
	if _, err := tx.Exec(`INSERT INTO usage_hour_reporters (key_id, hour, reporter, attempts) VALUES (?, ?, ?, ?)
		ON CONFLICT (key_id, hour, reporter) DO UPDATE SET attempts = attempts + excluded.attempts`,
		e.KeyID, ts(e.Minute.Truncate(time.Hour)), e.Instance, attempts); err != nil {
		return err
	}
	if e.LastUsedAt == nil {
		return nil
	}
	at := ts(*e.LastUsedAt)
	if _, err := tx.Exec(`INSERT INTO key_last_used (key_id, at) VALUES (?, ?)
		ON CONFLICT (key_id) DO UPDATE SET at = excluded.at WHERE excluded.at > at`, e.KeyID, at); err != nil {
		return err
	}
	_, err := tx.Exec(`UPDATE keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		at, e.KeyID, at)
	return err
}

// addCounts adds a usage row's counts to the row already there.
const addCounts = `valid = valid + excluded.valid, not_found = not_found + excluded.not_found,
	revoked = revoked + excluded.revoked, expired = expired + excluded.expired, forbidden_ip = forbidden_ip + excluded.forbidden_ip,
	missing_scope = missing_scope + excluded.missing_scope, rate_limited = rate_limited + excluded.rate_limited,
	disabled = disabled + excluded.disabled`

// applySources adds where a key was used from in one instance's minute.
func (u *usageApplier) applySources(tx *sql.Tx, e *events.UsageRecorded) error {
	add := func(ip string, n uint64) error {
		if _, err := tx.Exec(`INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, minute, ip) DO UPDATE SET count = count + excluded.count`, e.KeyID, ts(e.Minute), ip, n); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO usage_hour_sources (key_id, hour, ip, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, hour, ip) DO UPDATE SET count = count + excluded.count`, e.KeyID, ts(e.Minute.Truncate(time.Hour)), ip, n)
		return err
	}
	for ip, n := range e.Sources {
		if err := add(ip, n); err != nil {
			return err
		}
	}
	if e.OtherSources > 0 {
		return add("*", e.OtherSources)
	}
	return nil
}
