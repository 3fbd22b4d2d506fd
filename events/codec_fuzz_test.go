package events_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// FuzzDecode: Decode never panics; what it accepts is one of the event
// types, re-encodes, and decodes again to the same bytes (nothing is
// misread into a different fact); what it refuses is an error.
func FuzzDecode(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := events.Meta{At: at, Actor: "01J0000000000000000000000A", CommandID: "c1"}
	exp := at.Add(time.Hour)
	for _, e := range []events.Event{
		&events.SettingsChanged{Meta: m, Settings: keyledger.DefaultSettings()},
		&events.UserRegistered{Meta: m, UserID: "U", Name: "ü", Kind: "person", Roles: []string{"admin"}},
		&events.UserRolesChanged{Meta: m, UserID: "U"},
		&events.UserDeactivated{Meta: m, UserID: "U"},
		&events.KeyIssued{Meta: m, KeyID: "K", Owner: "U", Name: "n", Scopes: []string{"a"}, ExpiresAt: &exp,
			RateLimit: &keyledger.RateLimit{Limit: 1, Per: "PT1M"}, SecretHash: "00"},
		&events.KeyRenamed{Meta: m, KeyID: "K", Owner: "U", Name: "x"},
		&events.KeyRevoked{Meta: m, KeyID: "K", Owner: "U", Reason: "r"},
		&events.KeyRegenerated{Meta: m, KeyID: "K", Owner: "U"},
		&events.KeyDeleted{Meta: m, KeyID: "K", Owner: "U"},
		&events.KeyExpired{Meta: m, KeyID: "K", Owner: "U", Reason: "ttl"},
		&events.UsageRecorded{Meta: m, KeyID: "K", Owner: "U", Minute: at, Denied: map[string]uint64{"revoked": 1}},
		&events.EventSkipped{Meta: m, Seq: 7, Reason: "junk"},
		&events.CheckpointCosigned{Meta: m, Size: 9, Witness: "w+01234567+AQ==", Note: "n"},
	} {
		data, err := events.Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"", "null", "{}", `{"type":"KeyIssued","v":2}`, `{"type":"Undecodable","v":1}`,
		`{"type":"KeyIssued","v":1,"at":"not a time"}`, `{"type":"KeyIssued","v":1}{"type":"KeyRevoked","v":1}`,
		`{"type":"KeyRevoked","v":1,"type":"KeyIssued"}`, "\x00", `{"type":"KeyIssued","v":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := events.Decode(data)
		if err != nil {
			if e != nil {
				t.Fatalf("Decode returned %T and %v", e, err)
			}
			return
		}
		if _, ok := e.(*events.Undecodable); ok {
			t.Fatal("Decode produced an Undecodable")
		}
		_ = events.Subject(e)
		once, err := events.Encode(e)
		if err != nil {
			t.Fatalf("re-encode %T: %v", e, err)
		}
		e2, err := events.Decode(once)
		if err != nil {
			t.Fatalf("decode of our own encoding %s: %v", once, err)
		}
		twice, _ := events.Encode(e2)
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
		}
	})
}
