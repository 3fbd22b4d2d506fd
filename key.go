package keyledger

import "time"

// Key statuses.
const (
	StatusActive  = "active"
	StatusExpired = "expired" // past expires_at, or unused past the inactivity policy
	StatusRevoked = "revoked" // may be regenerated
	StatusDeleted = "deleted" // ended for good
)

// Key is the read model of one API key, as queries return it. It never holds
// a secret; Token is set only in the reply that creates a secret.
type Key struct {
	ID           string     `json:"key_id"`
	Owner        string     `json:"owner"`
	OwnerName    string     `json:"owner_name,omitempty"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Scopes       []string   `json:"scopes"`
	AllowedCIDRs []string   `json:"allowed_cidrs"`
	RateLimit    *RateLimit `json:"rate_limit,omitempty"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	// CreatedByName, RevokedByName and DeletedByName are those users'
	// names, in the answer to one key (query.key), for an admin or an
	// auditor, or when the user is the caller.
	CreatedByName      string     `json:"created_by_name,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at"`
	EffectiveExpiresAt *time.Time `json:"effective_expires_at"`
	LastUsedAt         *time.Time `json:"last_used_at"`
	RevokedAt          *time.Time `json:"revoked_at"`
	RevokedBy          string     `json:"revoked_by,omitempty"` // user ID of who revoked it
	RevokedByName      string     `json:"revoked_by_name,omitempty"`
	RevokeReason       string     `json:"revoke_reason,omitempty"` // as given at revoke
	// RegeneratedAt is when the key was last given a new secret (its
	// revocations before that are in its audit trace).
	RegeneratedAt *time.Time `json:"regenerated_at,omitempty"`
	DeletedAt     *time.Time `json:"deleted_at"`
	DeletedBy     string     `json:"deleted_by,omitempty"` // user ID of who deleted it
	DeletedByName string     `json:"deleted_by_name,omitempty"`
	DeleteReason  string     `json:"delete_reason,omitempty"` // deleted, or with the owner's keys, or owner deactivated
	UpdatedAt     time.Time  `json:"updated_at"`
	Token         string     `json:"token,omitempty"`
	Replayed      bool       `json:"replayed,omitempty"`
}

// RateLimit allows Limit verifications per Per (an ISO 8601 period).
type RateLimit struct {
	Limit int    `json:"limit"`
	Per   string `json:"per"`
}

// KeyFilter selects keys in a list query; zero fields match everything.
type KeyFilter struct {
	Owner         string     `json:"owner,omitempty"`
	Status        string     `json:"status,omitempty"`
	Q             string     `json:"q,omitempty"`
	CreatedBy     string     `json:"created_by,omitempty"`
	ExpiresBefore *time.Time `json:"expires_before,omitempty"`
	// CreatedAfter and CreatedBefore bound when keys were issued:
	// created_after <= created_at < created_before.
	CreatedAfter  *time.Time `json:"created_after,omitempty"`
	CreatedBefore *time.Time `json:"created_before,omitempty"`
	NeverExpires  bool       `json:"never_expires,omitempty"`
	Limit         int        `json:"limit,omitempty"`
	Cursor        string     `json:"cursor,omitempty"`
	// AsOf, a time (RFC 3339) or "seq:N", asks for the keys as they stood
	// then, rebuilt by replaying the stream.
	AsOf string `json:"as_of,omitempty"`
}

// KeyPage is one page of a key list; NextCursor is empty on the last page.
type KeyPage struct {
	Keys       []*Key `json:"keys"`
	NextCursor string `json:"next_cursor"`
}

// User kinds.
const (
	KindPerson  = "person"
	KindService = "service"
)

// User is the read model of a person or service account.
type User struct {
	ID        string    `json:"user_id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Roles     []string  `json:"roles"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Credential is what authentication and verification need to know about a
// key: whose it is, the hash of its secret, whether it may act now, its
// owner's roles, and the limits a gateway enforces.
type Credential struct {
	KeyID        string
	Owner        string
	SecretHash   string
	Status       string
	ExpiresAt    *time.Time
	OwnerRoles   []string
	OwnerActive  bool
	Scopes       []string
	AllowedCIDRs []string
	RateLimit    *RateLimit
	CreatedAt    time.Time
	// RegeneratedAt is the latest regenerate (nil: never regenerated).
	RegeneratedAt *time.Time
	LastUsedAt    *time.Time
}

// Clock is what decides when the key stops working (see KeyClock).
func (c *Credential) Clock() KeyClock {
	return NewKeyClock(c.Status, c.ExpiresAt, c.CreatedAt, c.RegeneratedAt, c.LastUsedAt)
}
