package projections

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/events"
)

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

// apply writes one event into the read models inside tx.
func apply(tx *sql.Tx, r events.Recorded) error {
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
		err = exec1(tx, `UPDATE users SET roles = ?, updated_at = ? WHERE user_id = ?`, jsonText(e.Roles), at, e.UserID)
	case *events.UserDeactivated:
		err = exec1(tx, `UPDATE users SET active = 0, updated_at = ? WHERE user_id = ?`, at, e.UserID)
	case *events.KeyIssued:
		var rl any
		if e.RateLimit != nil {
			rl = jsonText(e.RateLimit)
		}
		_, err = tx.Exec(`INSERT INTO keys (key_id, owner, name, description, scopes, allowed_cidrs, rate_limit, status,
				secret_sha256, created_at, created_by, expires_at, updated_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)`,
			e.KeyID, e.Owner, e.Name, e.Description, jsonText(e.Scopes), jsonText(e.AllowedCIDRs), rl,
			e.SecretHash, at, e.Actor, tsPtr(e.ExpiresAt), at, r.Seq)
	case *events.KeyRenamed:
		err = exec1(tx, `UPDATE keys SET name = ?, description = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			e.Name, e.Description, at, r.Seq, e.KeyID)
	case *events.KeyRevoked:
		err = exec1(tx, `UPDATE keys SET status = 'revoked', revoked_at = ?, revoke_reason = ?, revoked_by = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			at, e.Reason, e.Actor, at, r.Seq, e.KeyID)
	case *events.KeyRegenerated:
		err = exec1(tx, `UPDATE keys SET status = 'active', secret_sha256 = ?, revoked_at = NULL, revoke_reason = NULL, revoked_by = NULL,
				regenerated_at = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			e.SecretHash, at, at, r.Seq, e.KeyID)
	case *events.KeyDeleted:
		err = exec1(tx, `UPDATE keys SET status = 'deleted', deleted_at = ?, deleted_by = ?, delete_reason = ?, updated_at = ?, seq = ? WHERE key_id = ?`,
			at, e.Actor, e.Reason, at, r.Seq, e.KeyID)
	case *events.KeyExpired:
		err = exec1(tx, `UPDATE keys SET status = 'expired', updated_at = ?, seq = ? WHERE key_id = ?`, at, r.Seq, e.KeyID)
	case *events.UsageRecorded:
		err = applyUsage(tx, e)
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
		err = recordAggregate(tx, r)
	}
	if err != nil {
		return fmt.Errorf("seq %d (%s): %w", r.Seq, r.Subject, err)
	}
	return nil
}

// recordAggregate moves the aggregate's last sequence to the event and
// records the command it carries, for the write path to refill from.
func recordAggregate(tx *sql.Tx, r events.Recorded) error {
	aggregate := r.Event.OwnerID()
	var err error
	switch r.Event.(type) {
	case *events.UsageRecorded:
		return nil
	case *events.SettingsChanged:
		aggregate = "settings"
		_, err = tx.Exec(`UPDATE settings SET seq = ? WHERE id = 1`, r.Seq)
	default:
		if aggregate == "" {
			return nil
		}
		_, err = tx.Exec(`UPDATE users SET seq = ? WHERE user_id = ?`, r.Seq, aggregate)
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
func exec1(tx *sql.Tx, query string, args ...any) error {
	res, err := tx.Exec(query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("updated %d rows, want 1", n)
	}
	return nil
}

// applySources adds where a key was used from in one instance's minute.
func applySources(tx *sql.Tx, e *events.UsageRecorded) error {
	add := func(ip string, n uint64) error {
		_, err := tx.Exec(`INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, minute, ip) DO UPDATE SET count = count + excluded.count`, e.KeyID, ts(e.Minute), ip, n)
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

// applyUsage adds one instance's minute of counts to the usage table, and
// moves the key's last_used_at forward (never back).
func applyUsage(tx *sql.Tx, e *events.UsageRecorded) error {
	d := e.Denied
	_, err := tx.Exec(`INSERT INTO usage (key_id, minute, valid, not_found, revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key_id, minute) DO UPDATE SET valid = valid + excluded.valid, not_found = not_found + excluded.not_found,
			revoked = revoked + excluded.revoked, expired = expired + excluded.expired, forbidden_ip = forbidden_ip + excluded.forbidden_ip,
			missing_scope = missing_scope + excluded.missing_scope, rate_limited = rate_limited + excluded.rate_limited,
			disabled = disabled + excluded.disabled`,
		e.KeyID, ts(e.Minute), e.Valid, d["not_found"], d["revoked"], d["expired"], d["forbidden_ip"], d["missing_scope"], d["rate_limited"], d["disabled"])
	if err != nil {
		return err
	}
	if err := applySources(tx, e); err != nil {
		return err
	}
	if e.LastUsedAt == nil {
		return nil
	}
	_, err = tx.Exec(`UPDATE keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		ts(*e.LastUsedAt), e.KeyID, ts(*e.LastUsedAt))
	return err
}
