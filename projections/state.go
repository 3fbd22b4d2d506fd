package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

var _ commands.StateSource = (*DB)(nil)

// OwnerState returns the decision state of one owner as the projections hold
// it, and the last stream sequence of the owner's subjects it reflects. It is
// one statement, so one snapshot even while the projector commits. An owner
// that was never registered is empty at sequence 0.
func (d *DB) OwnerState(ctx context.Context, id string) (*commands.Owner, uint64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT u.name, u.kind, u.roles, u.active, u.seq,
			k.key_id, k.name, k.description, k.status, k.expires_at, k.revoked_by
		FROM users u LEFT JOIN keys k ON k.owner = u.user_id
		WHERE u.user_id = ? ORDER BY k.key_id`, id)
	if err != nil {
		return nil, 0, fmt.Errorf("owner state: %w", err)
	}
	defer rows.Close()
	o, seq := commands.NewOwner(id), uint64(0)
	for rows.Next() {
		var roles string
		var keyID, name, desc, status, expires, revokedBy sql.NullString
		if err := rows.Scan(&o.Name, &o.Kind, &roles, &o.Active, &seq, &keyID, &name, &desc, &status, &expires, &revokedBy); err != nil {
			return nil, 0, fmt.Errorf("owner state: %w", err)
		}
		o.Exists = true
		if err := json.Unmarshal([]byte(roles), &o.Roles); err != nil {
			return nil, 0, fmt.Errorf("owner state: roles of %s: %w", id, err)
		}
		if !keyID.Valid {
			continue
		}
		o.Keys[keyID.String] = &commands.Key{ID: keyID.String, Name: name.String, Description: desc.String,
			Status: status.String, ExpiresAt: parseTimePtr(expires), RevokedByOther: revokedBy.Valid && revokedBy.String != id}
		o.KeyOrder = append(o.KeyOrder, keyID.String)
	}
	return o, seq, rows.Err()
}

// SettingsState returns the policy and the last stream sequence of the
// settings subjects it reflects (0 and the defaults before any change).
func (d *DB) SettingsState(ctx context.Context) (keyledger.Settings, uint64, error) {
	s := keyledger.DefaultSettings()
	var seq uint64
	var at, by sql.NullString
	err := d.db.QueryRowContext(ctx, `SELECT enabled, max_expiry, default_expiry, inactivity_expiry, max_active_keys_per_user, updated_at, updated_by, seq
		FROM settings WHERE id = 1`).Scan(&s.Enabled, &s.MaxExpiry, &s.DefaultExpiry, &s.InactivityExpiry, &s.MaxActiveKeysPerUser, &at, &by, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return s, 0, nil
	} else if err != nil {
		return s, 0, fmt.Errorf("settings state: %w", err)
	}
	s.UpdatedAt, s.UpdatedBy = parseTimePtr(at), by.String
	return s, seq, nil
}

// CommandOutcome reports whether the command was applied to the aggregate,
// and the key it last touched.
func (d *DB) CommandOutcome(ctx context.Context, aggregate, cmdID string) (string, bool, error) {
	var keyID string
	err := d.db.QueryRowContext(ctx, `SELECT key_id FROM commands WHERE aggregate = ? AND command_id = ?`, aggregate, cmdID).Scan(&keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("command outcome: %w", err)
	}
	return keyID, true, nil
}
