package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

// Settings returns the current policy (the defaults until an admin changes it).
func (d *DB) Settings(ctx context.Context) (keyledger.Settings, error) {
	s := keyledger.DefaultSettings()
	var at, by sql.NullString
	err := d.db.QueryRowContext(ctx, `SELECT enabled, max_expiry, default_expiry, inactivity_expiry, max_active_keys_per_user, updated_at, updated_by
		FROM settings WHERE id = 1`).Scan(&s.Enabled, &s.MaxExpiry, &s.DefaultExpiry, &s.InactivityExpiry, &s.MaxActiveKeysPerUser, &at, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	} else if err != nil {
		return s, fmt.Errorf("settings: %w", err)
	}
	s.UpdatedAt, s.UpdatedBy = parseTimePtr(at), by.String
	return s, nil
}

const userColumns = `user_id, name, kind, roles, active, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*keyledger.User, error) {
	var u keyledger.User
	var roles, created, updated string
	if err := row.Scan(&u.ID, &u.Name, &u.Kind, &roles, &u.Active, &created, &updated); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(roles), &u.Roles)
	u.CreatedAt, u.UpdatedAt = parseTime(created), parseTime(updated)
	return &u, nil
}

// User returns one user.
func (d *DB) User(ctx context.Context, id string) (*keyledger.User, error) {
	u, err := scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyledger.Errorf(keyledger.ENotFound, "user %s not found", id)
	}
	return u, err
}

// Users returns every user, or those whose name holds q (ignoring ASCII
// case, as key list's q does) or whose ID is q, oldest first.
func (d *DB) Users(ctx context.Context, q string) ([]*keyledger.User, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE ? = '' OR name LIKE ? ESCAPE '\' OR user_id = ? ORDER BY created_at, user_id`, q, likePattern(q), q)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	users := []*keyledger.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

const keyColumns = `k.key_id, k.owner, u.name, k.name, k.description, k.scopes, k.allowed_cidrs, k.rate_limit, k.status,
	k.created_at, k.created_by, k.expires_at, k.last_used_at, k.revoked_at, k.updated_at,
	k.revoke_reason, k.revoked_by, k.deleted_at, k.deleted_by, k.delete_reason, k.regenerated_at`

// keyReader scans keys and works out their status and effective expiry at
// one instant under one policy, by keyledger.KeyClock.
type keyReader struct {
	now    time.Time
	policy keyledger.ExpiryPolicy
}

func (d *DB) keyReader(ctx context.Context) (*keyReader, error) {
	s, err := d.Settings(ctx)
	if err != nil {
		return nil, err
	}
	return &keyReader{now: d.Now().UTC(), policy: keyledger.PolicyOf(s)}, nil
}

func (r *keyReader) scan(row interface{ Scan(...any) error }) (*keyledger.Key, error) {
	var k keyledger.Key
	var scopes, cidrs, created, updated string
	var rl, expires, used, revoked, reason, revokedBy, deleted, deletedBy, delReason, regenerated sql.NullString
	if err := row.Scan(&k.ID, &k.Owner, &k.OwnerName, &k.Name, &k.Description, &scopes, &cidrs, &rl, &k.Status,
		&created, &k.CreatedBy, &expires, &used, &revoked, &updated,
		&reason, &revokedBy, &deleted, &deletedBy, &delReason, &regenerated); err != nil {
		return nil, err
	}
	k.RevokeReason, k.RevokedBy, k.DeletedAt = reason.String, revokedBy.String, parseTimePtr(deleted)
	k.DeletedBy, k.DeleteReason = deletedBy.String, delReason.String
	_ = json.Unmarshal([]byte(scopes), &k.Scopes)
	_ = json.Unmarshal([]byte(cidrs), &k.AllowedCIDRs)
	if rl.Valid {
		k.RateLimit = new(keyledger.RateLimit)
		_ = json.Unmarshal([]byte(rl.String), k.RateLimit)
	}
	k.CreatedAt, k.UpdatedAt = parseTime(created), parseTime(updated)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = parseTimePtr(expires), parseTimePtr(used), parseTimePtr(revoked)
	k.RegeneratedAt = parseTimePtr(regenerated)
	clock := keyledger.NewKeyClock(k.Status, k.ExpiresAt, k.CreatedAt, k.RegeneratedAt, k.LastUsedAt)
	k.Status, k.EffectiveExpiresAt = clock.StatusAt(r.now, r.policy)
	return &k, nil
}

// expiredByTime is the SQL form of keyledger.KeyClock's rule for an active
// key that time has ended, with its arguments: the cutoffs come from
// ExpiryPolicy.ExpiredByTimeCutoffs, so SQL and Go judge alike (a test holds
// them to the same answer).
func (r *keyReader) expiredByTime() (string, []any) {
	expiresBefore, idleBefore := r.policy.ExpiredByTimeCutoffs(r.now)
	idle := ""
	if idleBefore != nil {
		idle = ts(*idleBefore)
	}
	return `(k.status = 'active' AND ((k.expires_at IS NOT NULL AND k.expires_at < ?) OR
		(? != '' AND MAX(k.created_at, COALESCE(k.regenerated_at, ''), COALESCE(k.last_used_at, '')) < ?)))`,
		[]any{ts(expiresBefore), idle, idle}
}

// Key returns one key.
func (d *DB) Key(ctx context.Context, id string) (*keyledger.Key, error) {
	r, err := d.keyReader(ctx)
	if err != nil {
		return nil, err
	}
	k, err := r.scan(d.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys k JOIN users u ON u.user_id = k.owner WHERE k.key_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyledger.Errorf(keyledger.ENotFound, "key %s not found", id)
	}
	return k, err
}

// KeyOwner returns the owner of a key.
func (d *DB) KeyOwner(ctx context.Context, id string) (string, error) {
	var owner string
	err := d.db.QueryRowContext(ctx, `SELECT owner FROM keys WHERE key_id = ?`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keyledger.Errorf(keyledger.ENotFound, "key %s not found", id)
	}
	return owner, err
}

// Keys returns one page of keys matching f, newest first.
func (d *DB) Keys(ctx context.Context, f keyledger.KeyFilter) (*keyledger.KeyPage, error) {
	r, err := d.keyReader(ctx)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	where, args := []string{"1 = 1"}, []any{}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Owner != "" {
		add(`k.owner = ?`, f.Owner)
	}
	if f.CreatedBy != "" {
		add(`k.created_by = ?`, f.CreatedBy)
	}
	if f.Q != "" {
		add(`(k.name LIKE ? ESCAPE '\' OR k.key_id = ? OR k.owner = ? OR u.name = ?)`, likePattern(f.Q), f.Q, f.Q, f.Q)
	}
	if f.ExpiresBefore != nil {
		add(`k.expires_at < ?`, ts(*f.ExpiresBefore))
	}
	if f.CreatedAfter != nil {
		add(`k.created_at >= ?`, ts(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		add(`k.created_at < ?`, ts(*f.CreatedBefore))
	}
	if f.NeverExpires {
		add(`k.expires_at IS NULL`)
	}
	if f.Cursor != "" {
		add(`k.key_id < ?`, f.Cursor)
	}
	expiredByTime, cutoffs := r.expiredByTime()
	switch f.Status {
	case "":
	case keyledger.StatusActive:
		add(`k.status = 'active' AND NOT `+expiredByTime, cutoffs...)
	case keyledger.StatusExpired:
		add(`(k.status = 'expired' OR `+expiredByTime+`)`, cutoffs...)
	case keyledger.StatusRevoked, keyledger.StatusDeleted:
		add(`k.status = ?`, f.Status)
	default:
		return nil, keyledger.Errorf(keyledger.EInvalid, "status: %q is not one of active, expired, revoked, deleted", f.Status)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys k JOIN users u ON u.user_id = k.owner
		WHERE `+strings.Join(where, " AND ")+` ORDER BY k.key_id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer rows.Close()
	page := &keyledger.KeyPage{Keys: []*keyledger.Key{}}
	for rows.Next() {
		k, err := r.scan(rows)
		if err != nil {
			return nil, err
		}
		page.Keys = append(page.Keys, k)
	}
	if len(page.Keys) > limit {
		page.Keys = page.Keys[:limit]
		page.NextCursor = page.Keys[limit-1].ID
	}
	return page, rows.Err()
}

// Credential returns what authentication needs to know about a key.
func (d *DB) Credential(ctx context.Context, keyID string) (*keyledger.Credential, error) {
	var c keyledger.Credential
	var roles string
	var expires sql.NullString
	var created, cidrs string
	var regenerated, used sql.NullString
	err := d.db.QueryRowContext(ctx, `SELECT k.key_id, k.owner, k.secret_sha256, k.status, k.expires_at, k.created_at, k.regenerated_at,
			k.last_used_at, k.allowed_cidrs, u.roles, u.active
		FROM keys k JOIN users u ON u.user_id = k.owner WHERE k.key_id = ?`, keyID).
		Scan(&c.KeyID, &c.Owner, &c.SecretHash, &c.Status, &expires, &created, &regenerated, &used, &cidrs, &roles, &c.OwnerActive)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyledger.Errorf(keyledger.ENotFound, "key %s not found", keyID)
	} else if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	c.ExpiresAt, c.CreatedAt = parseTimePtr(expires), parseTime(created)
	c.RegeneratedAt, c.LastUsedAt = parseTimePtr(regenerated), parseTimePtr(used)
	_ = json.Unmarshal([]byte(roles), &c.OwnerRoles)
	_ = json.Unmarshal([]byte(cidrs), &c.AllowedCIDRs)
	return &c, nil
}

// likePattern is a LIKE pattern matching any text that holds q, with q's
// own % and _ taken literally.
func likePattern(q string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

func parseTimePtr(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

// KeyCounts counts keys by status as of the DB's clock: an active key past
// its expiry counts as expired before the sweeper records it.
func (d *DB) KeyCounts(ctx context.Context) (map[string]int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT CASE WHEN status = 'active' AND expires_at IS NOT NULL AND expires_at <= ? THEN 'expired' ELSE status END AS s,
			COUNT(*) FROM keys GROUP BY s`, ts(d.Now()))
	if err != nil {
		return nil, fmt.Errorf("key counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("key counts: %w", err)
		}
		counts[s] = n
	}
	return counts, rows.Err()
}

// KeysUsedFrom lists the keys that were used from an address inside p since
// then, by the addresses usage recorded.
func (d *DB) KeysUsedFrom(ctx context.Context, p netip.Prefix, since time.Time) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT DISTINCT key_id, ip FROM usage_sources WHERE minute >= ? AND ip != '*'`, ts(since))
	if err != nil {
		return nil, fmt.Errorf("keys used from %s: %w", p, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var key, ip string
		if err := rows.Scan(&key, &ip); err != nil {
			return nil, fmt.Errorf("keys used from %s: %w", p, err)
		}
		if a, err := netip.ParseAddr(ip); err == nil && p.Contains(a) && !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out, rows.Err()
}
