package keyledger

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
)

// AuditEntry is one row of the audit trail: one event of stream KEYLEDGER.
type AuditEntry struct {
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// Actor is the user ID who acted ("system" for keyledger itself);
	// ActorKey the key ID they authenticated with.
	Actor    string `json:"actor"`
	ActorKey string `json:"actor_key,omitempty"`
	// ActorName and OwnerName are the names of Actor and Owner, when they
	// name users (user names are unique among active users, and never
	// change). They are looked up when the entry is read: the stored
	// event, and the log's leaf, hold only the IDs.
	ActorName string `json:"actor_name,omitempty"`
	// Action is "key.issued", "key.renamed", "key.revoked", "user.registered",
	// "settings.changed", "audit.checkpoint", ….
	Action    string `json:"action"`
	KeyID     string `json:"key_id,omitempty"`
	Owner     string `json:"owner,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	// Detail is what the action changed: a key's policy when issued, before
	// and after for renames, roles and settings, the reason for an end.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Source is where the request came from ("http ADDR", "nats HOST (NAME)").
	Source string `json:"source,omitempty"`
	// LeafHash is the event's transparency-log leaf (base64).
	LeafHash string `json:"leaf_hash"`
}

// AuditFilter selects audit entries; every field set must match. Since and
// Until bound At (Since inclusive, Until exclusive). Pages run newest first.
type AuditFilter struct {
	KeyID  string     `json:"key_id,omitempty"`
	Owner  string     `json:"owner,omitempty"`
	Actor  string     `json:"actor,omitempty"`
	Action string     `json:"action,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	Limit  int        `json:"limit,omitempty"`
	Cursor string     `json:"cursor,omitempty"`
}

// AuditPage is one page of audit entries; NextCursor is empty on the last.
type AuditPage struct {
	Entries    []*AuditEntry `json:"entries"`
	NextCursor string        `json:"next_cursor"`
}

// AuditReceipt proves one event is in the audit log: its exact stored bytes
// (base64), leaf hash, inclusion proof (base64 hashes) and the signed
// checkpoint it is proved against. `keyledger audit check-receipt` checks it
// offline with the log's verifier key.
type AuditReceipt struct {
	Seq        uint64   `json:"seq"`
	Event      string   `json:"event"`
	LeafHash   string   `json:"leaf_hash"`
	Proof      []string `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
}

// KeyTrace is one key's whole story (keyledger.query.audit.trace): every
// audit entry about it, oldest first (issue and policy, renames, refused
// attempts, its end), and its use per hour.
type KeyTrace struct {
	KeyID string `json:"key_id"`
	// KeyName is the key's name now (its entries say what it was before).
	KeyName   string        `json:"key_name,omitempty"`
	Owner     string        `json:"owner"`
	OwnerName string        `json:"owner_name,omitempty"`
	Entries   []*AuditEntry `json:"entries"`
	// Usage is the key's verifications per UTC hour, oldest first, over
	// its most recent hours of use (TraceUsageHours unless asked for up
	// to MaxTraceUsageHours); hours without use are left out. It reaches
	// the trace with the once-a-minute usage flush.
	Usage []UsageHour `json:"usage"`
}

// How many hours of use a trace reports: the key's most recent 168 (a
// week of constant use), or up to 720 (30 days) when asked.
const (
	TraceUsageHours    = 168
	MaxTraceUsageHours = 720
)

// UsageHour is a key's verifications in one hour: counts by result, and
// the addresses the gateways named (the TraceSourcesPerHour busiest; the
// rest, and attempts past the sources kept per minute, as "*").
type UsageHour struct {
	Hour    time.Time     `json:"hour"`
	Counts  UsageCounts   `json:"counts"`
	Sources []UsageSource `json:"sources"`
	// ReportedBy names who reported these attempts: keyledger's instances
	// by instance ID, gateways as gateway:<name>, most attempts first.
	ReportedBy []UsageReporter `json:"reported_by"`
}

// UsageReporter is one reporter's share of an hour's attempts.
type UsageReporter struct {
	Reporter string `json:"reporter"`
	Attempts int64  `json:"attempts"`
}

// TraceSourcesPerHour is how many addresses a trace names per hour.
const TraceSourcesPerHour = 8

// UsageCounts are verifications by result code.
type UsageCounts struct {
	Valid        int64 `json:"valid"`
	NotFound     int64 `json:"not_found"`
	Revoked      int64 `json:"revoked"`
	Expired      int64 `json:"expired"`
	ForbiddenIP  int64 `json:"forbidden_ip"`
	MissingScope int64 `json:"missing_scope"`
	RateLimited  int64 `json:"rate_limited"`
	Disabled     int64 `json:"disabled"`
}

// Refused is every count but Valid.
func (c UsageCounts) Refused() int64 {
	return c.NotFound + c.Revoked + c.Expired + c.ForbiddenIP + c.MissingScope + c.RateLimited + c.Disabled
}

// UsageSource is how many verifications in an hour named one address.
type UsageSource struct {
	IP    string `json:"ip"`
	Count int64  `json:"count"`
}

// NATSSource is how an audit entry names a NATS client as its source:
// "nats HOST (NAME)", each part only if known. NAME is the client's own
// name for its connection, which anyone may choose: it is cut to
// MaxClientName characters, and what would not print (control and format
// characters, line breaks) becomes "?".
func NATSSource(host, name string) string {
	s := "nats"
	if host != "" {
		s += " " + host
	}
	if name != "" {
		s += " (" + clientName(name) + ")"
	}
	return s
}

// MaxClientName is how many characters of a NATS client's name for its
// connection an audit source keeps.
const MaxClientName = 64

func clientName(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == MaxClientName {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
