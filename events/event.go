// Package events is keyledger's vocabulary of past-tense facts: one type per
// event, their versioned JSON encoding and the subjects they are stored
// under. The JetStream event store lives beside them in store.go; the types
// themselves import no driver.
package events

import (
	"time"

	"github.com/keyledger/keyledger"
)

// SchemaVersion is the version written into every event; Decode rejects
// events from a newer schema rather than misread them.
const SchemaVersion = 1

// Meta is what every event records about how it came to be. Type and V are
// filled by Encode.
type Meta struct {
	Type      string    `json:"type"`
	V         int       `json:"v"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	CommandID string    `json:"command_id,omitempty"`
	// ActorKey is the key ID the actor authenticated with ("" for keyledger
	// itself); Source is where the request came from ("http 10.0.0.7:51234",
	// "nats 10.0.0.8:4222 name"). Both are additive within schema version 1.
	ActorKey string `json:"actor_key,omitempty"`
	Source   string `json:"source,omitempty"`
}

// Base returns the event's metadata so callers can stamp and read it.
func (m *Meta) Base() *Meta { return m }

// Event is one immutable fact. Action is its last subject token ("revoked"),
// OwnerID and KeyRef place it on the owner's subject tree ("" where none).
type Event interface {
	Action() string
	OwnerID() string
	KeyRef() string
	Base() *Meta
}

// Settings events.

// SettingsChanged records the whole policy after an admin changed it.
type SettingsChanged struct {
	Meta
	Settings keyledger.Settings `json:"settings"`
}

// User events.

// UserRegistered records a new person or service account.
type UserRegistered struct {
	Meta
	UserID string   `json:"user_id"`
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`
	Roles  []string `json:"roles"`
}

// UserRolesChanged records a user's complete new set of roles.
type UserRolesChanged struct {
	Meta
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles"`
}

// UserDeactivated records that a user can no longer act or own keys. It is
// stored in one atomic batch with a KeyDeleted for each of their keys.
type UserDeactivated struct {
	Meta
	UserID string `json:"user_id"`
}

// Key events. Every key event names its owner, so a notification can say
// whose key it was without a lookup.

// KeyIssued records a new key. SecretHash is the hex SHA-256 of the token's
// secret; the token itself is never stored.
type KeyIssued struct {
	Meta
	KeyID        string               `json:"key_id"`
	Owner        string               `json:"owner"`
	Name         string               `json:"name"`
	Description  string               `json:"description,omitempty"`
	Scopes       []string             `json:"scopes,omitempty"`
	AllowedCIDRs []string             `json:"allowed_cidrs,omitempty"`
	RateLimit    *keyledger.RateLimit `json:"rate_limit,omitempty"`
	ExpiresAt    *time.Time           `json:"expires_at,omitempty"`
	SecretHash   string               `json:"secret_sha256"`
}

// KeyRenamed records a key's new name and description.
type KeyRenamed struct {
	Meta
	KeyID       string `json:"key_id"`
	Owner       string `json:"owner"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// KeyRevoked records that a key stopped working; it may be regenerated.
type KeyRevoked struct {
	Meta
	KeyID  string `json:"key_id"`
	Owner  string `json:"owner"`
	Reason string `json:"reason,omitempty"`
}

// KeyRegenerated records a new secret for a revoked key, which is active
// again under the same ID and the same expiry.
type KeyRegenerated struct {
	Meta
	KeyID      string `json:"key_id"`
	Owner      string `json:"owner"`
	SecretHash string `json:"secret_sha256"`
}

// KeyDeleted records that a key ended for good.
type KeyDeleted struct {
	Meta
	KeyID  string `json:"key_id"`
	Owner  string `json:"owner"`
	Reason string `json:"reason,omitempty"`
}

// KeyExpired records that a key passed its expiry ("ttl") or was unused
// longer than the inactivity policy allows ("inactivity").
type KeyExpired struct {
	Meta
	KeyID  string `json:"key_id"`
	Owner  string `json:"owner"`
	Reason string `json:"reason"`
}

// Action implements Event.
func (*SettingsChanged) Action() string  { return "changed" }
func (*UserRegistered) Action() string   { return "registered" }
func (*UserRolesChanged) Action() string { return "roles_changed" }
func (*UserDeactivated) Action() string  { return "deactivated" }
func (*KeyIssued) Action() string        { return "issued" }
func (*KeyRenamed) Action() string       { return "renamed" }
func (*KeyRevoked) Action() string       { return "revoked" }
func (*KeyRegenerated) Action() string   { return "regenerated" }
func (*KeyDeleted) Action() string       { return "deleted" }
func (*KeyExpired) Action() string       { return "expired" }

// OwnerID implements Event.
func (*SettingsChanged) OwnerID() string    { return "" }
func (e *UserRegistered) OwnerID() string   { return e.UserID }
func (e *UserRolesChanged) OwnerID() string { return e.UserID }
func (e *UserDeactivated) OwnerID() string  { return e.UserID }
func (e *KeyIssued) OwnerID() string        { return e.Owner }
func (e *KeyRenamed) OwnerID() string       { return e.Owner }
func (e *KeyRevoked) OwnerID() string       { return e.Owner }
func (e *KeyRegenerated) OwnerID() string   { return e.Owner }
func (e *KeyDeleted) OwnerID() string       { return e.Owner }
func (e *KeyExpired) OwnerID() string       { return e.Owner }

// KeyRef implements Event.
func (*SettingsChanged) KeyRef() string  { return "" }
func (*UserRegistered) KeyRef() string   { return "" }
func (*UserRolesChanged) KeyRef() string { return "" }
func (*UserDeactivated) KeyRef() string  { return "" }
func (e *KeyIssued) KeyRef() string      { return e.KeyID }
func (e *KeyRenamed) KeyRef() string     { return e.KeyID }
func (e *KeyRevoked) KeyRef() string     { return e.KeyID }
func (e *KeyRegenerated) KeyRef() string { return e.KeyID }
func (e *KeyDeleted) KeyRef() string     { return e.KeyID }
func (e *KeyExpired) KeyRef() string     { return e.KeyID }

// UsageRecorded is one instance's count of verifications of one key in one
// minute. It lives in the KEYLEDGER_USAGE stream (keyledger.usage.<keyID>),
// never in KEYLEDGER: usage is high-volume and expires.
type UsageRecorded struct {
	Meta
	KeyID      string            `json:"key_id"`
	Owner      string            `json:"owner"`
	Minute     time.Time         `json:"minute"`
	Valid      uint64            `json:"valid"`
	Denied     map[string]uint64 `json:"denied,omitempty"`
	LastUsedAt *time.Time        `json:"last_used_at,omitempty"`
	Instance   string            `json:"instance"`
	// Sources counts attempts by source address (the ip a verification
	// named), for at most verifier.MaxSources addresses; OtherSources counts
	// the attempts from further addresses.
	Sources      map[string]uint64 `json:"sources,omitempty"`
	OtherSources uint64            `json:"other_sources,omitempty"`
}

// Action implements Event.
func (*UsageRecorded) Action() string { return "used" }

// OwnerID implements Event.
func (e *UsageRecorded) OwnerID() string { return e.Owner }

// KeyRef implements Event.
func (e *UsageRecorded) KeyRef() string { return e.KeyID }

// CheckpointSigned records a signed tree head of the audit log (a C2SP
// checkpoint note covering stream sequences 1..Size). It lives on
// keyledger.events.audit.checkpoint; instances append it with the expected
// last sequence of that subject, so one checkpoint is stored per interval.
type CheckpointSigned struct {
	Meta
	Size uint64 `json:"size"`
	// Note is the signed checkpoint note, as audit.SignCheckpoint wrote it.
	Note string `json:"note"`
}

// SubjectCheckpoint is where CheckpointSigned events are stored.
const SubjectCheckpoint = SubjectPrefix + "audit.checkpoint"

// Action implements Event.
func (*CheckpointSigned) Action() string { return "checkpoint" }

// OwnerID implements Event.
func (*CheckpointSigned) OwnerID() string { return "" }

// KeyRef implements Event.
func (*CheckpointSigned) KeyRef() string { return "" }

// CheckpointCosigned records that one instance, acting as a witness,
// co-signed a checkpoint: it checked the log's signature, that the root is
// the root of the tree it computed itself from the stream at that size, and
// that this tree extends the last one it co-signed. It lives on
// keyledger.events.audit.cosigned, one per witness and checkpoint.
type CheckpointCosigned struct {
	Meta
	Size uint64 `json:"size"`
	// Witness is the witness's note verifier key ("<name>+<hash>+<key>"),
	// as `keyledger audit pubkey --witness` prints it.
	Witness string `json:"witness"`
	// Note is the checkpoint note with the log's signature and the
	// witness's (audit.CosignCheckpoint).
	Note string `json:"note"`
}

// SubjectCosigned is where CheckpointCosigned events are stored.
const SubjectCosigned = SubjectPrefix + "audit.cosigned"

// Action implements Event.
func (*CheckpointCosigned) Action() string { return "cosigned" }

// OwnerID implements Event.
func (*CheckpointCosigned) OwnerID() string { return "" }

// KeyRef implements Event.
func (*CheckpointCosigned) KeyRef() string { return "" }
