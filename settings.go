package keyledger

import "time"

// Role names. A key acts with its owner's roles.
const (
	RoleAdmin     = "admin"     // everything
	RoleDeveloper = "developer" // own keys only, within policy
	RoleAuditor   = "auditor"   // every query, no change
)

// ValidRole reports whether r is one of the known roles.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleDeveloper || r == RoleAuditor
}

// Special period values in Settings.
const (
	Never = "never" // MaxExpiry: keys may be issued without an expiry
	None  = "none"  // InactivityExpiry: unused keys do not expire
)

// Settings is the key policy an admin sets. MaxExpiry and DefaultExpiry
// apply to keys issued afterwards (existing keys keep the expiry they were
// issued with); InactivityExpiry and Enabled apply to existing keys at once.
// status.go holds the rule.
type Settings struct {
	Enabled              bool       `json:"enabled"`
	MaxExpiry            string     `json:"max_expiry"`
	DefaultExpiry        string     `json:"default_expiry"`
	InactivityExpiry     string     `json:"inactivity_expiry"`
	MaxActiveKeysPerUser int        `json:"max_active_keys_per_user"`
	UpdatedAt            *time.Time `json:"updated_at,omitempty"`
	UpdatedBy            string     `json:"updated_by,omitempty"`
	// UpdatedByName is UpdatedBy's user name, looked up when read.
	UpdatedByName string `json:"updated_by_name,omitempty"`
}

// DefaultSettings is the policy before an admin changes anything: keys are
// disabled, expire within 180 days (90 by default) and at most 100 may be
// active per user.
func DefaultSettings() Settings {
	return Settings{
		MaxExpiry:            "P180D",
		DefaultExpiry:        "P90D",
		InactivityExpiry:     None,
		MaxActiveKeysPerUser: 100,
	}
}

// MaxActiveKeysLimit is the highest MaxActiveKeysPerUser an admin may set.
const MaxActiveKeysLimit = 1000
