package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Subject prefixes. Events about a user and their keys live under
// keyledger.events.user.<userID>.<name>, the key ID in the body; policy
// events under keyledger.events.settings.<name>.
//
// An owner's subjects are few (one per event name) however many keys the
// owner has held: JetStream finds the last sequence of a wildcard filter
// by visiting every subject under it, and every command appends with the
// owner's filter as its expected subject. Streams written before this
// layout hold keyledger.events.user.<userID>.<keyID or _>.<name>, which
// readers still accept (see LegacySubject).
const (
	SubjectPrefix   = "keyledger.events."
	SubjectAll      = "keyledger.events.>"
	SubjectSettings = "keyledger.events.settings.>"
	// SubjectSettingsChanged is the one subject policy changes are stored on.
	SubjectSettingsChanged = "keyledger.events.settings.changed"
	SubjectUsage           = "keyledger.usage.>"
	noKey                  = "_"
)

// LegacySubject is where e was stored before owner subjects stopped naming
// the key (keyledger.events.user.<userID>.<keyID or _>.<name>), or "" for
// an event that was not stored under an owner.
func LegacySubject(e Event) string {
	if !ownerEvent(e) {
		return ""
	}
	return SubjectPrefix + "user." + e.OwnerID() + "." + keyToken(e) + "." + e.Action()
}

// ActionSubjects are the subject filters that hold every owner event named
// action ("revoked"), in this layout and in the legacy one.
func ActionSubjects(action string) []string {
	return []string{SubjectPrefix + "user.*." + action, SubjectPrefix + "user.*.*." + action}
}

// ownerEvent reports whether e is stored under its owner's subjects.
func ownerEvent(e Event) bool {
	switch e.(type) {
	case *UsageRecorded, *CheckpointSigned, *CheckpointCosigned, *EventSkipped:
		return false
	}
	return e.OwnerID() != ""
}

// keyToken is e's key ID, or "_" for an event about the owner alone.
func keyToken(e Event) string {
	if k := e.KeyRef(); k != "" {
		return k
	}
	return noKey
}

// OwnerSubjects is the subject filter that holds one owner's aggregate.
func OwnerSubjects(userID string) string {
	return SubjectPrefix + "user." + userID + ".>"
}

// Subject is where e is stored.
func Subject(e Event) string {
	switch e.(type) {
	case *UsageRecorded:
		return "keyledger.usage." + e.KeyRef()
	case *CheckpointSigned:
		return SubjectCheckpoint
	case *CheckpointCosigned:
		return SubjectCosigned
	case *EventSkipped:
		return SubjectPrefix + "ops." + e.Action()
	}
	if e.OwnerID() == "" {
		return SubjectPrefix + "settings." + e.Action()
	}
	return SubjectPrefix + "user." + e.OwnerID() + "." + e.Action()
}

// typeName is the JSON "type" of an event: its Go type name (KeyRevoked).
func typeName(e Event) string { return reflect.TypeOf(e).Elem().Name() }

// newEvent returns an empty event of the given JSON type, or nil.
func newEvent(typ string) Event {
	switch typ {
	case "SettingsChanged":
		return new(SettingsChanged)
	case "UserRegistered":
		return new(UserRegistered)
	case "UserRolesChanged":
		return new(UserRolesChanged)
	case "UserDeactivated":
		return new(UserDeactivated)
	case "KeyIssued":
		return new(KeyIssued)
	case "KeyRenamed":
		return new(KeyRenamed)
	case "KeyRevoked":
		return new(KeyRevoked)
	case "KeyRegenerated":
		return new(KeyRegenerated)
	case "KeyDeleted":
		return new(KeyDeleted)
	case "KeyExpired":
		return new(KeyExpired)
	case "UsageRecorded":
		return new(UsageRecorded)
	case "CheckpointSigned":
		return new(CheckpointSigned)
	case "CheckpointCosigned":
		return new(CheckpointCosigned)
	case "EventSkipped":
		return new(EventSkipped)
	case "AccessDenied":
		return new(AccessDenied)
	}
	return nil
}

// Encode stamps e with its type and schema version and returns its JSON.
func Encode(e Event) ([]byte, error) {
	m := e.Base()
	m.Type, m.V = typeName(e), SchemaVersion
	return json.Marshal(e)
}

// Decode reads one stored event. Unknown types and newer schema versions are
// errors: a reader must never silently skip or misread history.
func Decode(data []byte) (Event, error) {
	// Encode writes the type and version first, so they are usually read
	// off the front without a pass over the whole body; the full decode
	// must agree with them (a body that names its type twice does not).
	if typ, v, ok := peekHead(data); ok {
		if e, err := decodeAs(data, typ, v); err == nil && e.Base().Type == typ && e.Base().V == v {
			return e, nil
		}
	}
	var head struct {
		Type string `json:"type"`
		V    int    `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return decodeAs(data, head.Type, head.V)
}

func decodeAs(data []byte, typ string, v int) (Event, error) {
	e := newEvent(typ)
	if e == nil {
		return nil, fmt.Errorf("decode event: unknown type %q", typ)
	}
	if v < 1 || v > SchemaVersion {
		return nil, fmt.Errorf("decode event %s: schema version %d not supported (this build reads up to %d)", typ, v, SchemaVersion)
	}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("decode event %s: %w", typ, err)
	}
	return e, nil
}

// peekHead reads the type and version from the front of a body as Encode
// writes it: {"type":"KeyIssued","v":1,...
func peekHead(data []byte) (typ string, v int, ok bool) {
	const open, mid = `{"type":"`, `","v":`
	if !bytes.HasPrefix(data, []byte(open)) {
		return "", 0, false
	}
	rest := data[len(open):]
	end := bytes.IndexByte(rest, '"')
	if end < 1 || end > 32 {
		return "", 0, false
	}
	typ, rest = string(rest[:end]), rest[end:]
	if !bytes.HasPrefix(rest, []byte(mid)) {
		return "", 0, false
	}
	rest = rest[len(mid):]
	n := 0
	for n < len(rest) && n < 4 && rest[n] >= '0' && rest[n] <= '9' {
		v = v*10 + int(rest[n]-'0')
		n++
	}
	if n == 0 || n == len(rest) || (rest[n] != ',' && rest[n] != '}') {
		return "", 0, false
	}
	return typ, v, true
}
