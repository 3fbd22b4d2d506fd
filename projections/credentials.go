package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/keyledger/keyledger"
)

// Credentials calls fn with every key that is not deleted, for loading the
// in-memory verify index at start, and returns the sequence the rows
// reflect: the index follows the stream from there. Credentials share their
// Scopes and AllowedCIDRs slices: fn must not change them.
func (d *DB) Credentials(ctx context.Context, fn func(*keyledger.Credential) error) (uint64, error) {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var seq uint64
	if err := tx.QueryRowContext(ctx, `SELECT last_seq FROM projection_state WHERE name = 'ledger'`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("credentials: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT k.key_id, k.owner, k.secret_sha256, k.status, k.expires_at, k.scopes, k.allowed_cidrs,
			k.rate_limit, k.created_at, k.regenerated_at, k.last_used_at, u.active
		FROM keys k JOIN users u ON u.user_id = k.owner WHERE k.status != 'deleted'`)
	if err != nil {
		return 0, fmt.Errorf("credentials: %w", err)
	}
	defer rows.Close()
	// Keys repeat the same few scope and network lists: decode each text once.
	lists := map[string][]string{}
	list := func(text string) []string {
		if v, ok := lists[text]; ok {
			return v
		}
		var v []string
		_ = json.Unmarshal([]byte(text), &v)
		lists[text] = v
		return v
	}
	for rows.Next() {
		var c keyledger.Credential
		var expires, rl, regenerated, used sql.NullString
		var scopes, cidrs, created string
		if err := rows.Scan(&c.KeyID, &c.Owner, &c.SecretHash, &c.Status, &expires, &scopes, &cidrs, &rl, &created, &regenerated, &used,
			&c.OwnerActive); err != nil {
			return 0, err
		}
		c.ExpiresAt, c.LastUsedAt, c.CreatedAt = parseTimePtr(expires), parseTimePtr(used), parseTime(created)
		c.RegeneratedAt = parseTimePtr(regenerated)
		c.Scopes, c.AllowedCIDRs = list(scopes), list(cidrs)
		if rl.Valid {
			c.RateLimit = new(keyledger.RateLimit)
			_ = json.Unmarshal([]byte(rl.String), c.RateLimit)
		}
		if err := fn(&c); err != nil {
			return 0, err
		}
	}
	return seq, rows.Err()
}
