package commands

import (
	"time"

	"github.com/keyledger/keyledger"
)

// The commands. Their JSON is the request body on keyledger.cmd.<name> and
// under /v1; fields the edge fills (new IDs, secret hashes) have no JSON name.

// SetSettings changes any subset of the key policy.
type SetSettings struct {
	Enabled              *bool   `json:"enabled"`
	MaxExpiry            *string `json:"max_expiry"`
	DefaultExpiry        *string `json:"default_expiry"`
	InactivityExpiry     *string `json:"inactivity_expiry"`
	MaxActiveKeysPerUser *int    `json:"max_active_keys_per_user"`
}

// RegisterUser adds a person or service account.
type RegisterUser struct {
	UserID string   `json:"-"`
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`
	Roles  []string `json:"roles"`
}

// ChangeRoles replaces a user's roles.
type ChangeRoles struct {
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles"`
}

// DeactivateUser ends a user and deletes every key of theirs.
type DeactivateUser struct {
	UserID string `json:"user_id"`
}

// IssueKey creates a key. Owner defaults to the caller. At most one of
// ExpiresAt and ExpiresIn ("P30D", or "never" where policy allows); neither
// means the policy's default expiry.
type IssueKey struct {
	KeyID        string               `json:"-"`
	SecretHash   string               `json:"-"`
	Owner        string               `json:"owner"`
	Name         string               `json:"name"`
	Description  string               `json:"description"`
	ExpiresAt    *time.Time           `json:"expires_at"`
	ExpiresIn    string               `json:"expires_in"`
	Scopes       []string             `json:"scopes"`
	AllowedCIDRs []string             `json:"allowed_cidrs"`
	RateLimit    *keyledger.RateLimit `json:"rate_limit"`
}

// UpdateKey renames a key or changes its description.
type UpdateKey struct {
	KeyID       string  `json:"key_id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// RevokeKeys stops keys from working; each must be active.
type RevokeKeys struct {
	KeyIDs []string `json:"key_ids"`
	Reason string   `json:"reason"`
}

// RevokeMatching revokes every active key that matches a filter: "issued by
// X between T1 and T2", "owned by Y", "used from CIDR Z". At least one filter
// is required; all given must match.
// DryRun lists the keys and changes nothing.
type RevokeMatching struct {
	Owner         string     `json:"owner"`
	CreatedBy     string     `json:"created_by"`
	CreatedAfter  *time.Time `json:"created_after"`
	CreatedBefore *time.Time `json:"created_before"`
	// UsedFrom (a CIDR) matches keys used from an address inside it since
	// UsedSince (default: 30 days ago).
	UsedFrom  string     `json:"used_from"`
	UsedSince *time.Time `json:"used_since"`
	Reason    string     `json:"reason"`
	DryRun    bool       `json:"dry_run"`
}

// RegenerateKey gives a revoked key a new secret under the same ID.
type RegenerateKey struct {
	KeyID      string `json:"key_id"`
	SecretHash string `json:"-"`
}

// DeleteKeys ends keys for good: the listed ones, or all of Owner's, with
// one reason (kept in the audit trail and shown by key show).
type DeleteKeys struct {
	KeyIDs []string `json:"key_ids"`
	Owner  string   `json:"owner"`
	All    bool     `json:"all"`
	Reason string   `json:"reason"`
}

// Failure is one key a multi-key command could not act on.
type Failure struct {
	KeyID   string `json:"key_id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}
