package verifier_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/oklog/ulid/v2"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fixture is an index at a movable time, holding keys issued through Apply.
type fixture struct {
	x   *verifier.Index
	now time.Time
	seq uint64
}

func newFixture() *fixture {
	f := &fixture{now: t0}
	f.x = verifier.NewIndex()
	f.x.Now = func() time.Time { return f.now }
	s := keyledger.DefaultSettings()
	s.Enabled = true
	f.apply(&events.SettingsChanged{Settings: s})
	return f
}

func (f *fixture) apply(e events.Event) {
	f.seq++
	f.x.Apply(events.Recorded{Seq: f.seq, Event: e})
	f.x.SetSeq(f.seq)
}

// issue adds a key and returns its ID and token.
func (f *fixture) issue(mod func(*events.KeyIssued)) (string, string) {
	id := ulid.Make().String()
	var secret [32]byte
	copy(secret[:], id)
	token, hash := keyledger.NewToken(id, secret)
	exp := t0.Add(24 * time.Hour)
	e := &events.KeyIssued{Meta: events.Meta{At: f.now}, KeyID: id, Owner: "OWNER", Name: "k", SecretHash: hash, ExpiresAt: &exp}
	if mod != nil {
		mod(e)
	}
	f.apply(e)
	return id, token
}

func TestVerifyResultCodes(t *testing.T) {
	f := newFixture()
	_, plain := f.issue(nil)
	_, scoped := f.issue(func(e *events.KeyIssued) {
		e.Scopes, e.AllowedCIDRs = []string{"read"}, []string{"10.0.0.0/8", "2001:db8::/32"}
	})
	revokedID, revokedTok := f.issue(nil)
	f.apply(&events.KeyRevoked{KeyID: revokedID, Owner: "OWNER"})
	deletedID, deletedTok := f.issue(nil)
	f.apply(&events.KeyDeleted{KeyID: deletedID, Owner: "OWNER"})
	_, soon := f.issue(func(e *events.KeyIssued) { exp := t0.Add(time.Minute); e.ExpiresAt = &exp })
	_, limited := f.issue(func(e *events.KeyIssued) { e.RateLimit = &keyledger.RateLimit{Limit: 2, Per: "PT1M"} })
	wrongSecret := func(tok string) string {
		var other [32]byte
		other[0] = 9
		t, _ := keyledger.NewToken(tok[3:29], other)
		return t
	}
	for _, tc := range []struct {
		name, token, scope, ip, code string
		at                           time.Duration
	}{
		{name: "valid", token: plain},
		{name: "valid_with_scope_and_ip", token: scoped, scope: "read", ip: "10.9.8.7"},
		{name: "valid_ipv6", token: scoped, ip: "2001:db8::1"},
		{name: "valid_ipv4_mapped", token: scoped, ip: "::ffff:10.0.0.1"},
		{name: "missing_scope", token: scoped, scope: "write", ip: "10.0.0.1", code: "missing_scope"},
		{name: "ip_outside_cidrs", token: scoped, ip: "192.168.0.1", code: "forbidden_ip"},
		{name: "no_ip_with_cidrs", token: scoped, code: "forbidden_ip"},
		{name: "typo_is_malformed", token: typo(plain, 40), code: "malformed"},
		{name: "garbage_is_malformed", token: "Bearer nope", code: "malformed"},
		{name: "wrong_secret_is_not_found", token: wrongSecret(plain), code: "not_found"},
		{name: "unknown_key_is_not_found", token: wrongSecret(ulid.Make().String() + plain[29:]), code: "malformed"},
		{name: "revoked", token: revokedTok, code: "revoked"},
		{name: "deleted_is_not_found", token: deletedTok, code: "not_found"},
		{name: "expired_at_once_past_expiry", token: soon, at: time.Minute, code: "expired"},
		{name: "rate_limit_first", token: limited},
		{name: "rate_limit_second", token: limited},
		{name: "rate_limited_third", token: limited, code: "rate_limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.now = t0.Add(tc.at)
			res := f.x.Verify(tc.token, tc.scope, tc.ip)
			if res.Valid != (tc.code == "") || res.Code != tc.code {
				t.Fatalf("valid %v code %q; want code %q", res.Valid, res.Code, tc.code)
			}
			if res.Seq != f.seq {
				t.Fatalf("seq %d, want %d", res.Seq, f.seq)
			}
			if res.Valid && (res.Owner != "OWNER" || res.KeyID == "" || res.ExpiresAt.IsZero()) {
				t.Fatalf("valid result lacks key facts: %+v", res)
			}
		})
	}
}

// typo changes the character at i to a different one.
func typo(token string, i int) string {
	c := byte('a')
	if token[i] == 'a' {
		c = 'b'
	}
	return token[:i] + string(c) + token[i+1:]
}

func TestVerifyDisabledAndInactivity(t *testing.T) {
	f := newFixture()
	_, tok := f.issue(nil)
	s := keyledger.DefaultSettings()
	s.Enabled, s.InactivityExpiry = true, "PT1H"
	f.apply(&events.SettingsChanged{Settings: s})
	f.now = t0.Add(50 * time.Minute)
	if res := f.x.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("used within the inactivity window: %s", res.Code)
	}
	f.now = t0.Add(50*time.Minute + 59*time.Minute) // 59 minutes after the last use
	if res := f.x.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("last use moved the inactivity window: %s", res.Code)
	}
	f.now = f.now.Add(61 * time.Minute)
	if res := f.x.Verify(tok, "", ""); res.Code != "expired" {
		t.Fatalf("idle past the policy: %q, want expired", res.Code)
	}
	due := f.x.Due(f.now)
	if len(due) != 1 || due[0].Reason != "inactivity" {
		t.Fatalf("due %+v, want one inactivity expiry", due)
	}
	s.Enabled = false
	f.apply(&events.SettingsChanged{Settings: s})
	if res := f.x.Verify(tok, "", ""); res.Code != "disabled" {
		t.Fatalf("keys disabled: %q", res.Code)
	}
}

func TestRegenerateReplacesTheSecret(t *testing.T) {
	f := newFixture()
	id, old := f.issue(nil)
	f.apply(&events.KeyRevoked{KeyID: id, Owner: "OWNER"})
	var secret [32]byte
	secret[31] = 7
	fresh, hash := keyledger.NewToken(id, secret)
	f.apply(&events.KeyRegenerated{Meta: events.Meta{At: f.now}, KeyID: id, Owner: "OWNER", SecretHash: hash})
	if res := f.x.Verify(fresh, "", ""); !res.Valid {
		t.Fatalf("new secret: %s", res.Code)
	}
	if res := f.x.Verify(old, "", ""); res.Code != "not_found" {
		t.Fatalf("old secret: %q, want not_found", res.Code)
	}
}

func TestLateEventsDoNotReviveEndedKeys(t *testing.T) {
	x := verifier.NewIndex()
	x.Apply(events.Recorded{Seq: 1, Event: &events.SettingsChanged{Settings: keyledger.Settings{Enabled: true, InactivityExpiry: "none"}}})
	id := ulid.Make().String()
	var secret [32]byte
	tok, hash := keyledger.NewToken(id, secret)
	issued := &events.KeyIssued{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "O", SecretHash: hash}
	// A notification of the revocation arrives before the stream delivers the issue.
	x.Apply(events.Recorded{Seq: 9, Event: &events.KeyRevoked{KeyID: id, Owner: "O"}})
	x.Apply(events.Recorded{Seq: 5, Event: issued})
	if res := x.Verify(tok, "", ""); res.Code != "revoked" {
		t.Fatalf("issue after an early revocation: %q, want revoked", res.Code)
	}
	x.Apply(events.Recorded{Seq: 9, Event: &events.KeyRevoked{KeyID: id, Owner: "O"}}) // the stream catches up
	x.Apply(events.Recorded{Seq: 5, Event: issued})                                    // a duplicate
	if res := x.Verify(tok, "", ""); res.Code != "revoked" {
		t.Fatalf("duplicate issue revived the key: %q", res.Code)
	}
}

func TestTakeUsageCountsAndResets(t *testing.T) {
	f := newFixture()
	id, tok := f.issue(func(e *events.KeyIssued) { e.Scopes = []string{"read"} })
	for range 5 {
		f.x.Verify(tok, "read", "")
	}
	f.x.Verify(tok, "write", "")
	usage := f.x.TakeUsage(t0, "i1")
	if len(usage) != 1 || usage[0].KeyID != id || usage[0].Valid != 5 || usage[0].Denied["missing_scope"] != 1 || usage[0].LastUsedAt == nil {
		t.Fatalf("usage %+v", usage)
	}
	if again := f.x.TakeUsage(t0, "i1"); len(again) != 0 {
		t.Fatalf("counts were not reset: %+v", again)
	}
}

func TestResultJSON(t *testing.T) {
	r := verifier.Result{Valid: true, KeyID: "K", Owner: "O", Scopes: []string{"a", "b:c"}, ExpiresAt: t0, Seq: 7}
	want := `{"valid":true,"key_id":"K","owner":"O","scopes":["a","b:c"],"expires_at":"2026-11-23T12:00:00Z","seq":7}`
	if got := string(r.AppendJSON(nil)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	r = verifier.Result{Code: "malformed", Seq: 1}
	if got := string(r.AppendJSON(nil)); got != `{"valid":false,"code":"malformed","seq":1}` {
		t.Fatalf("got %s", got)
	}
}

// BenchmarkVerify measures one core verifying valid keys from an index of
// 10,000: the figure the README's table records.
func BenchmarkVerify(b *testing.B) {
	f := newFixture()
	tokens := make([]string, 10000)
	for i := range tokens {
		_, tokens[i] = f.issue(func(e *events.KeyIssued) { e.Scopes = []string{"read", fmt.Sprint("s", i%10)} })
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if res := f.x.Verify(tokens[i%len(tokens)], "read", ""); !res.Valid {
			b.Fatal(res.Code)
		}
	}
}

func TestVerifyAllocatesNothing(t *testing.T) {
	f := newFixture()
	_, tok := f.issue(func(e *events.KeyIssued) { e.Scopes, e.AllowedCIDRs = []string{"read"}, []string{"10.0.0.0/8"} })
	if n := testing.AllocsPerRun(1000, func() { f.x.Verify(tok, "read", "10.1.1.1") }); n != 0 {
		t.Fatalf("Verify allocates %.1f times per call", n)
	}
}

func TestUsageOfAKeyDeletedWithinTheMinuteIsRecorded(t *testing.T) {
	f := newFixture()
	id, tok := f.issue(nil)
	for range 3 {
		if res := f.x.Verify(tok, "", ""); !res.Valid {
			t.Fatalf("verify: %+v", res)
		}
	}
	f.x.Verify(tok, "admin", "") // a scope it lacks
	f.apply(&events.KeyDeleted{KeyID: id, Owner: "OWNER"})
	if res := f.x.Verify(tok, "", ""); res.Code != "not_found" {
		t.Fatalf("after delete: %+v", res)
	}
	usage := f.x.TakeUsage(t0, "i")
	if len(usage) != 1 || usage[0].KeyID != id || usage[0].Valid != 3 || usage[0].LastUsedAt == nil || usage[0].Denied["missing_scope"] != 1 {
		t.Fatalf("usage after delete: %+v", usage)
	}
	if again := f.x.TakeUsage(t0.Add(time.Minute), "i"); len(again) != 0 {
		t.Fatalf("usage of a deleted key taken twice: %+v", again)
	}
}

// Usage records where a key was used from: each address the verifications
// named, up to MaxSources, and a count of the rest. An attempt with a wrong
// secret is counted but its address is not: anyone may name any address,
// and the key would look used from there.
func TestUsageRecordsSourceAddresses(t *testing.T) {
	f := newFixture()
	id, tok := f.issue(nil)
	f.x.Verify(tok, "", "203.0.113.7")
	f.x.Verify(tok, "", "203.0.113.7")
	f.x.Verify(tok, "", "::ffff:198.51.100.1") // the same as 198.51.100.1
	f.x.Verify(tok, "", "198.51.100.1")
	f.x.Verify(tok, "", "not an address")
	f.x.Verify(typoToken(tok), "", "192.0.2.66") // wrong secret: counted, not from there
	for i := range verifier.MaxSources + 3 {
		f.x.Verify(tok, "", fmt.Sprintf("10.9.0.%d", i))
	}
	usage := f.x.TakeUsage(t0, "i")
	if len(usage) != 1 || usage[0].KeyID != id {
		t.Fatalf("usage: %+v", usage)
	}
	u := usage[0]
	want := map[string]uint64{"203.0.113.7": 2, "198.51.100.1": 2}
	for ip, n := range want {
		if u.Sources[ip] != n {
			t.Errorf("%s: %d attempts recorded, want %d (%v)", ip, u.Sources[ip], n, u.Sources)
		}
	}
	if _, ok := u.Sources["192.0.2.66"]; ok || u.Denied["not_found"] != 1 {
		t.Errorf("a wrong secret: sources %v, denied %v; want it counted, not its address", u.Sources, u.Denied)
	}
	if len(u.Sources) != verifier.MaxSources || u.OtherSources != 3+uint64(len(want)) {
		t.Errorf("%d addresses and %d others; want %d and %d", len(u.Sources), u.OtherSources, verifier.MaxSources, 3+len(want))
	}
	if again := f.x.TakeUsage(t0.Add(time.Minute), "i"); len(again) != 0 {
		t.Fatalf("sources taken twice: %+v", again)
	}
}

// typoToken changes one character of the secret, keeping the checksum valid
// is not possible, so it builds a new token for the same key ID instead.
func typoToken(tok string) string {
	keyID, _, _ := keyledger.ParseToken(tok)
	var secret [32]byte
	secret[0] = 1
	other, _ := keyledger.NewToken(keyID, secret)
	return other
}
