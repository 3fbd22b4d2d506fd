package commands

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

const (
	fuzzOwner = "01J0000000000000000000000U"
	fuzzKey   = "01J0000000000000000000000K"
)

// FuzzCommandBodies feeds any bytes to every catalogue endpoint's body
// decoder, and what decodes to the pure decide function behind it. Nothing
// panics; refusals carry a code a client understands (never internal); IDs
// that pass are ULIDs; what is decided encodes and decodes.
func FuzzCommandBodies(f *testing.F) {
	for _, s := range []string{"", "{}", "null", "[]", `{"name":"ci","scopes":["read"],"expires_in":"P30D"}`,
		`{"key_id":"` + fuzzKey + `","name":"x"}`, `{"key_ids":["` + fuzzKey + `"],"reason":"r"}`,
		`{"key_ids":["*"]}`, `{"owner":">","all":true}`, `{"user_id":"a.b","roles":["admin"]}`,
		`{"key_id":"kl_` + fuzzKey + `_secret"}`, `{"enabled":true,"max_expiry":"P1Y","max_active_keys_per_user":5}`,
		`{"name":"ü\u0000","kind":"service","roles":["auditor"]}`, `{"seq":3,"reason":"junk"}`,
		`{"allowed_cidrs":["10.0.0.0/8","::1"],"rate_limit":{"limit":1,"per":"PT1M"},"name":"n"}`,
		`{"expires_at":"2030-01-01T00:00:00Z","name":"n"}`, `{"name":"n"} trailing`, `{"unknown":1}`,
		`{"kl_` + fuzzKey + `_secretsecret":1}`} {
		for i := range Endpoints() {
			f.Add(i, []byte(s))
		}
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	admin := Actor{UserID: "01J0000000000000000000000A", Roles: []string{keyledger.RoleAdmin}}
	settings := keyledger.DefaultSettings()
	settings.Enabled = true
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		eps := Endpoints()
		if which < 0 {
			which = -which
		}
		ep := eps[which%len(eps)]
		v := reflect.New(ep.Request).Interface()
		err := Decode(body, v)
		if pc, ok := reflect.ValueOf(v).Elem().Interface().(prechecker); ok && err == nil {
			err = pc.precheck()
		}
		if err != nil {
			if code := keyledger.ErrorCode(err); code != keyledger.EInvalid {
				t.Fatalf("%s: decoding %q failed with %s: %v", ep.Name, body, code, err)
			}
			if strings.Contains(keyledger.ErrorMessage(err), "kl_") {
				t.Fatalf("%s: refusal repeats a token: %v", ep.Name, err)
			}
			return
		}
		o := fuzzAggregate(now)
		var evs []events.Event
		switch c := v.(type) {
		case *SetSettings:
			evs, err = DecideSettings(keyledger.DefaultSettings(), admin, *c, now)
		case *RegisterUser:
			c.UserID = "01J0000000000000000000000N"
			evs, err = DecideRegister(NewOwner(c.UserID), admin, *c, now)
		case *ChangeRoles: // a user may be named by ID or name; resolved with state
			evs, err = DecideRoles(o, admin, *c, now)
		case *DeactivateUser:
			evs, err = DecideDeactivate(o, admin, *c, now)
		case *IssueKey:
			c.KeyID, c.SecretHash = "01J0000000000000000000000Z", strings.Repeat("0", 64)
			evs, err = DecideIssue(settings, o, admin, *c, now)
		case *UpdateKey:
			mustULID(t, c.KeyID)
			evs, err = DecideUpdate(o, admin, *c, now)
		case *RevokeKeys:
			for _, id := range c.KeyIDs {
				mustULID(t, id)
				var e []events.Event
				e, err = DecideRevoke(o, admin, id, c.Reason, now)
				evs = append(evs, e...)
			}
		case *RegenerateKey:
			mustULID(t, c.KeyID)
			evs, err = DecideRegenerate(settings, o, admin, *c, now)
		case *DeleteKeys:
			for _, id := range c.KeyIDs {
				mustULID(t, id)
			}
		case *SkipEvent:
			evs, err = DecideSkip(admin, *c, 3, now)
		case *keyIDQuery:
			mustULID(t, c.KeyID)
		}
		if err != nil {
			if code := keyledger.ErrorCode(err); code == keyledger.EInternal {
				t.Fatalf("%s: %q decided with an internal error: %v", ep.Name, body, err)
			}
			return
		}
		for _, e := range evs {
			data, err := events.Encode(e)
			if err != nil {
				t.Fatalf("%s: encode %T: %v", ep.Name, e, err)
			}
			if _, err := events.Decode(data); err != nil {
				t.Fatalf("%s: a decided %T does not decode: %v\n%s", ep.Name, e, err, data)
			}
			if s := events.Subject(e); strings.ContainsAny(s, "*> ") {
				t.Fatalf("%s: a decided %T goes to subject %q", ep.Name, e, s)
			}
		}
	})
}

// fuzzAggregate is an owner with one active key, as decisions see it.
func fuzzAggregate(now time.Time) *Owner {
	o := NewOwner(fuzzOwner)
	m := events.Meta{At: now.Add(-time.Hour), Actor: "a"}
	o.Apply(&events.UserRegistered{Meta: m, UserID: fuzzOwner, Name: "u", Kind: keyledger.KindPerson, Roles: []string{keyledger.RoleDeveloper}})
	o.Apply(&events.KeyIssued{Meta: m, KeyID: fuzzKey, Owner: fuzzOwner, Name: "k"})
	return o
}

func mustULID(t *testing.T, id string) {
	t.Helper()
	if checkID("id", id) != nil {
		t.Fatalf("ID %q passed the body checks but is not a ULID", id)
	}
}
