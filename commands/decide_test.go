package commands_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

var (
	now     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admin   = commands.Actor{UserID: "ADMIN", Roles: []string{keyledger.RoleAdmin}}
	dev     = commands.Actor{UserID: "DEV", Roles: []string{keyledger.RoleDeveloper}}
	other   = commands.Actor{UserID: "OTHER", Roles: []string{keyledger.RoleDeveloper}}
	auditor = commands.Actor{UserID: "AUD", Roles: []string{keyledger.RoleAuditor}}
	nobody  = commands.Actor{UserID: "NOBODY"}
)

func enabled() keyledger.Settings {
	s := keyledger.DefaultSettings()
	s.Enabled = true
	return s
}

// owner builds DEV's aggregate with the given keys (name → status).
func owner(keys ...string) *commands.Owner {
	o := commands.NewOwner("DEV")
	o.Apply(&events.UserRegistered{UserID: "DEV", Name: "dev", Kind: "person", Roles: []string{"developer"}})
	for i, name := range keys {
		id := fmt.Sprintf("K%d", i)
		exp := now.Add(24 * time.Hour)
		o.Apply(&events.KeyIssued{KeyID: id, Owner: "DEV", Name: name, ExpiresAt: &exp})
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := keyledger.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestDecideIssue(t *testing.T) {
	pastMax := now.AddDate(0, 0, 181)
	soon := now.Add(30 * time.Second)
	for _, tc := range []struct {
		name     string
		settings func(*keyledger.Settings)
		owner    *commands.Owner
		actor    commands.Actor
		cmd      commands.IssueKey
		code     string
		expires  *time.Time
	}{
		{name: "issues_with_default_expiry", cmd: commands.IssueKey{Name: "ci"}, expires: ptr(now.AddDate(0, 0, 90))},
		{name: "disabled_until_admin_enables", settings: func(s *keyledger.Settings) { s.Enabled = false }, actor: admin, cmd: commands.IssueKey{Name: "ci"}, code: "disabled"},
		{name: "admin_issues_for_anyone", actor: admin, cmd: commands.IssueKey{Name: "ci"}},
		{name: "developer_cannot_issue_for_another", actor: other, cmd: commands.IssueKey{Name: "ci"}, code: "forbidden"},
		{name: "auditor_cannot_issue", actor: auditor, cmd: commands.IssueKey{Name: "ci"}, code: "forbidden"},
		{name: "no_role_cannot_issue", actor: nobody, cmd: commands.IssueKey{Name: "ci"}, code: "forbidden"},
		{name: "name_required", cmd: commands.IssueKey{}, code: "invalid"},
		{name: "name_of_spaces_refused", cmd: commands.IssueKey{Name: "   "}, code: "invalid"},
		{name: "name_with_trailing_space_refused", cmd: commands.IssueKey{Name: "ci "}, code: "invalid"},
		{name: "name_with_leading_space_refused", cmd: commands.IssueKey{Name: " ci"}, code: "invalid"},
		{name: "name_with_inner_space_allowed", cmd: commands.IssueKey{Name: "ci deploy"}},
		{name: "name_over_100_chars", cmd: commands.IssueKey{Name: string(make([]byte, 101))}, code: "invalid"},
		{name: "description_over_1000_chars", cmd: commands.IssueKey{Name: "ci", Description: fmt.Sprintf("%1001s", "x")}, code: "invalid"},
		{name: "name_unique_among_active_keys", owner: owner("ci"), cmd: commands.IssueKey{Name: "ci"}, code: "conflict"},
		{name: "name_of_revoked_key_reusable", owner: revokedOwner(), cmd: commands.IssueKey{Name: "old"}},
		{name: "expiry_past_max_refused", cmd: commands.IssueKey{Name: "ci", ExpiresAt: &pastMax}, code: "invalid"},
		{name: "expiry_under_a_minute_refused", cmd: commands.IssueKey{Name: "ci", ExpiresAt: &soon}, code: "invalid"},
		{name: "expires_in_period", cmd: commands.IssueKey{Name: "ci", ExpiresIn: "PT12H"}, expires: ptr(now.Add(12 * time.Hour))},
		{name: "bad_period_refused", cmd: commands.IssueKey{Name: "ci", ExpiresIn: "90 days"}, code: "invalid"},
		{name: "expires_at_and_in_refused", cmd: commands.IssueKey{Name: "ci", ExpiresIn: "P1D", ExpiresAt: ptr(now.Add(48 * time.Hour))}, code: "invalid"},
		{name: "never_refused_unless_policy_allows", cmd: commands.IssueKey{Name: "ci", ExpiresIn: "never"}, code: "invalid"},
		{name: "never_allowed_when_policy_allows", settings: func(s *keyledger.Settings) { s.MaxExpiry = "never" }, cmd: commands.IssueKey{Name: "ci", ExpiresIn: "never"}},
		{name: "limit_reached_at_max_active", settings: func(s *keyledger.Settings) { s.MaxActiveKeysPerUser = 2 }, owner: owner("a", "b"), cmd: commands.IssueKey{Name: "c"}, code: "limit_reached"},
		{name: "revoked_keys_do_not_count", settings: func(s *keyledger.Settings) { s.MaxActiveKeysPerUser = 1 }, owner: revokedOwner(), cmd: commands.IssueKey{Name: "c"}},
		{name: "bad_scope_refused", cmd: commands.IssueKey{Name: "ci", Scopes: []string{"read write"}}, code: "invalid"},
		{name: "bad_cidr_refused", cmd: commands.IssueKey{Name: "ci", AllowedCIDRs: []string{"10.0.0.0/99"}}, code: "invalid"},
		{name: "bad_rate_limit_refused", cmd: commands.IssueKey{Name: "ci", RateLimit: &keyledger.RateLimit{Limit: 0, Per: "PT1M"}}, code: "invalid"},
		{name: "deactivated_owner_refused", actor: admin, owner: deactivatedOwner(), cmd: commands.IssueKey{Name: "ci"}, code: "conflict"},
		{name: "unknown_owner_refused", actor: admin, owner: commands.NewOwner("GHOST"), cmd: commands.IssueKey{Name: "ci"}, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := enabled()
			if tc.settings != nil {
				tc.settings(&s)
			}
			o, a := tc.owner, tc.actor
			if o == nil {
				o = owner()
			}
			if a.UserID == "" {
				a = dev
			}
			tc.cmd.KeyID, tc.cmd.SecretHash = "NEW", "hash"
			evs, err := commands.DecideIssue(s, o, a, tc.cmd, now)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if evs != nil {
					t.Fatal("events returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := evs[0].(*events.KeyIssued)
			if e.KeyID != "NEW" || e.SecretHash != "hash" || e.Owner != o.ID || e.Actor != a.UserID {
				t.Fatalf("issued %+v", e)
			}
			if tc.expires != nil && (e.ExpiresAt == nil || !e.ExpiresAt.Equal(*tc.expires)) {
				t.Fatalf("expires %v, want %v", e.ExpiresAt, tc.expires)
			}
		})
	}
}

func revokedOwner() *commands.Owner {
	o := owner("old")
	o.Apply(&events.KeyRevoked{Meta: events.Meta{Actor: "DEV"}, KeyID: "K0", Owner: "DEV"})
	return o
}

// adminRevokedOwner is DEV with key K0 revoked by an admin.
func adminRevokedOwner() *commands.Owner {
	o := owner("old")
	o.Apply(&events.KeyRevoked{Meta: events.Meta{Actor: "ADMIN"}, KeyID: "K0", Owner: "DEV", Reason: "suspicious use"})
	return o
}

func deactivatedOwner() *commands.Owner {
	o := owner()
	o.Apply(&events.UserDeactivated{UserID: "DEV"})
	return o
}

// An expiry past policy names the field the caller gave, and for a period
// the time it ends: `--expires-in P400D` is not told about expires_at.
func TestExpiryErrorsNameTheFieldGiven(t *testing.T) {
	s := enabled()
	s.MaxExpiry, s.DefaultExpiry = "P180D", "P90D"
	far := now.AddDate(1, 0, 0)
	for _, tc := range []struct {
		cmd  commands.IssueKey
		want string
	}{
		{commands.IssueKey{Name: "ci", ExpiresIn: "P400D"}, "expires_in: P400D ends 2027-12-28T12:00:00Z, past max_expiry P180D"},
		{commands.IssueKey{Name: "ci", ExpiresIn: "PT30S"}, "expires_in: must be at least one minute from now"},
		{commands.IssueKey{Name: "ci", ExpiresAt: &far}, "expires_at: 2027-11-23T12:00:00Z, past max_expiry P180D"},
	} {
		_, err := commands.DecideIssue(s, owner(), dev, tc.cmd, now)
		var e *keyledger.Error
		if !errors.As(err, &e) || e.Code != keyledger.EInvalid || !strings.HasPrefix(e.Message, tc.want) {
			t.Errorf("%+v: %v; want invalid %q", tc.cmd, err, tc.want)
		}
	}
}

func TestDecideKeyLifecycle(t *testing.T) {
	expired := owner("gone")
	expired.Keys["K0"].ExpiresAt = ptr(now.Add(-time.Hour))
	for _, tc := range []struct {
		name   string
		decide func() ([]events.Event, error)
		code   string
		want   string // the event's action when it succeeds
	}{
		{"revoke_active_key", func() ([]events.Event, error) { return commands.DecideRevoke(owner("a"), dev, "K0", "leaked", now) }, "", "revoked"},
		{"revoke_only_active_keys", func() ([]events.Event, error) { return commands.DecideRevoke(revokedOwner(), dev, "K0", "", now) }, "conflict", ""},
		{"revoke_expired_key_refused", func() ([]events.Event, error) { return commands.DecideRevoke(expired, dev, "K0", "", now) }, "conflict", ""},
		{"revoke_unknown_key", func() ([]events.Event, error) { return commands.DecideRevoke(owner(), dev, "NOPE", "", now) }, "not_found", ""},
		{"developer_revoking_anothers_key_answers_as_missing", func() ([]events.Event, error) { return commands.DecideRevoke(owner("a"), other, "K0", "", now) }, "not_found", ""},
		{"admin_revokes_anyones_key", func() ([]events.Event, error) { return commands.DecideRevoke(owner("a"), admin, "K0", "", now) }, "", "revoked"},
		{"auditor_cannot_revoke", func() ([]events.Event, error) { return commands.DecideRevoke(owner("a"), auditor, "K0", "", now) }, "forbidden", ""},
		{"regenerate_revoked_key", func() ([]events.Event, error) {
			return commands.DecideRegenerate(enabled(), revokedOwner(), dev, commands.RegenerateKey{KeyID: "K0", SecretHash: "h2"}, now)
		}, "", "regenerated"},
		{"owner_cannot_undo_an_admins_revocation", func() ([]events.Event, error) {
			return commands.DecideRegenerate(enabled(), adminRevokedOwner(), dev, commands.RegenerateKey{KeyID: "K0", SecretHash: "h2"}, now)
		}, "forbidden", ""},
		{"admin_regenerates_what_an_admin_revoked", func() ([]events.Event, error) {
			return commands.DecideRegenerate(enabled(), adminRevokedOwner(), admin, commands.RegenerateKey{KeyID: "K0", SecretHash: "h2"}, now)
		}, "", "regenerated"},
		{"owner_may_revoke_again_after_an_admin_regenerates", func() ([]events.Event, error) {
			o := adminRevokedOwner()
			o.Apply(&events.KeyRegenerated{KeyID: "K0", Owner: "DEV"})
			o.Apply(&events.KeyRevoked{Meta: events.Meta{Actor: "DEV"}, KeyID: "K0", Owner: "DEV"})
			return commands.DecideRegenerate(enabled(), o, dev, commands.RegenerateKey{KeyID: "K0", SecretHash: "h3"}, now)
		}, "", "regenerated"},
		{"regenerate_only_revoked_keys", func() ([]events.Event, error) {
			return commands.DecideRegenerate(enabled(), owner("a"), dev, commands.RegenerateKey{KeyID: "K0"}, now)
		}, "conflict", ""},
		{"regenerate_past_expiry_refused", func() ([]events.Event, error) {
			o := revokedOwner()
			o.Keys["K0"].ExpiresAt = ptr(now.Add(-time.Minute))
			return commands.DecideRegenerate(enabled(), o, dev, commands.RegenerateKey{KeyID: "K0"}, now)
		}, "conflict", ""},
		{"rename_key", func() ([]events.Event, error) {
			return commands.DecideUpdate(owner("a"), dev, commands.UpdateKey{KeyID: "K0", Name: ptr("b")}, now)
		}, "", "renamed"},
		{"rename_to_taken_name_refused", func() ([]events.Event, error) {
			return commands.DecideUpdate(owner("a", "b"), dev, commands.UpdateKey{KeyID: "K0", Name: ptr("b")}, now)
		}, "conflict", ""},
		{"rename_to_empty_refused", func() ([]events.Event, error) {
			return commands.DecideUpdate(owner("a"), dev, commands.UpdateKey{KeyID: "K0", Name: ptr("")}, now)
		}, "invalid", ""},
		{"rename_to_blanks_refused", func() ([]events.Event, error) {
			return commands.DecideUpdate(owner("a"), dev, commands.UpdateKey{KeyID: "K0", Name: ptr("a ")}, now)
		}, "invalid", ""},
		{"describe_a_key_whose_old_name_has_a_trailing_space", func() ([]events.Event, error) {
			return commands.DecideUpdate(owner("a "), dev, commands.UpdateKey{KeyID: "K0", Description: ptr("kept")}, now)
		}, "", "renamed"},
		{"delete_key", func() ([]events.Event, error) { return commands.DecideDelete(owner("a"), dev, "K0", "", now) }, "", "deleted"},
		{"delete_twice_refused", func() ([]events.Event, error) {
			o := owner("a")
			o.Apply(&events.KeyDeleted{KeyID: "K0", Owner: "DEV"})
			return commands.DecideDelete(o, dev, "K0", "", now)
		}, "conflict", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := tc.decide()
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Action() != tc.want {
				t.Fatalf("got %d events, first %v; want one %q", len(evs), evs, tc.want)
			}
		})
	}
}

func TestDecideUnchangedUpdateStoresNothing(t *testing.T) {
	evs, err := commands.DecideUpdate(owner("a"), dev, commands.UpdateKey{KeyID: "K0", Name: ptr("a")}, now)
	if err != nil || evs != nil {
		t.Fatalf("got %v, %v; want no events", evs, err)
	}
}

func TestDecideDeactivateDeletesEveryKeyInOneBatch(t *testing.T) {
	o := owner("a", "b", "c")
	o.Apply(&events.KeyDeleted{KeyID: "K1", Owner: "DEV"})
	evs, err := commands.DecideDeactivate(o, admin, commands.DeactivateUser{UserID: "DEV"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Action()+":"+e.KeyRef())
	}
	if fmt.Sprint(got) != "[deleted:K0 deleted:K2 deactivated:]" {
		t.Fatalf("events %v", got)
	}
	if _, err := commands.DecideDeactivate(o, dev, commands.DeactivateUser{UserID: "DEV"}, now); !errors.Is(err, keyledger.ErrForbidden) {
		t.Fatalf("developer deactivating: %v", err)
	}
	self := commands.NewOwner("ADMIN")
	self.Apply(&events.UserRegistered{UserID: "ADMIN", Roles: []string{"admin"}})
	if _, err := commands.DecideDeactivate(self, admin, commands.DeactivateUser{UserID: "ADMIN"}, now); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("admin deactivating self: %v", err)
	}
}

func TestDecideDeleteAllInChunks(t *testing.T) {
	o := owner("a", "b", "c")
	evs, err := commands.DecideDeleteAll(o, dev, 2, "", now)
	if err != nil || len(evs) != 2 {
		t.Fatalf("first chunk: %d events, %v", len(evs), err)
	}
	for _, e := range evs {
		o.Apply(e)
	}
	evs, _ = commands.DecideDeleteAll(o, dev, 2, "", now)
	if len(evs) != 1 {
		t.Fatalf("second chunk has %d events, want 1", len(evs))
	}
	if _, err := commands.DecideDeleteAll(o, other, 2, "", now); !errors.Is(err, keyledger.ErrForbidden) {
		t.Fatalf("developer deleting another's keys: %v", err)
	}
}

func TestDecideSettings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		actor commands.Actor
		cmd   commands.SetSettings
		code  string
	}{
		{"admin_enables_keys", admin, commands.SetSettings{Enabled: ptr(true)}, ""},
		{"developer_cannot_change_policy", dev, commands.SetSettings{Enabled: ptr(true)}, "forbidden"},
		{"max_active_keys_at_most_1000", admin, commands.SetSettings{MaxActiveKeysPerUser: ptr(1001)}, "invalid"},
		{"max_active_keys_at_least_1", admin, commands.SetSettings{MaxActiveKeysPerUser: ptr(0)}, "invalid"},
		{"bad_max_expiry", admin, commands.SetSettings{MaxExpiry: ptr("forever")}, "invalid"},
		{"default_longer_than_max_refused", admin, commands.SetSettings{MaxExpiry: ptr("P30D")}, "invalid"},
		{"never_allowed_by_admin", admin, commands.SetSettings{MaxExpiry: ptr("never"), DefaultExpiry: ptr("never")}, ""},
		{"default_never_needs_max_never", admin, commands.SetSettings{DefaultExpiry: ptr("never")}, "invalid"},
		{"inactivity_period", admin, commands.SetSettings{InactivityExpiry: ptr("P30D")}, ""},
		{"bad_inactivity", admin, commands.SetSettings{InactivityExpiry: ptr("soon")}, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := commands.DecideSettings(keyledger.DefaultSettings(), tc.actor, tc.cmd, now)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil || len(evs) != 1 {
				t.Fatalf("got %v, %v", evs, err)
			}
		})
	}
	evs, err := commands.DecideSettings(keyledger.DefaultSettings(), admin, commands.SetSettings{MaxExpiry: ptr("P180D")}, now)
	if err != nil || evs != nil {
		t.Fatalf("an unchanged policy stored %v, %v", evs, err)
	}
}

func TestDecideUsers(t *testing.T) {
	fresh := commands.NewOwner("U1")
	if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: "svc", Kind: "robot"}, now); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("bad kind: %v", err)
	}
	if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: "svc", Roles: []string{"root"}}, now); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	if _, err := commands.DecideRegister(fresh, dev, commands.RegisterUser{UserID: "U1", Name: "svc"}, now); !errors.Is(err, keyledger.ErrForbidden) {
		t.Fatalf("developer registering: %v", err)
	}
	// Lookalikes: one Cyrillic а or Greek ο among Latin letters.
	// And other forms of plain letters: full-width ｂｏｂ, the ﬁ ligature,
	// a decomposed ü.
	for _, name := range []string{"\u0430lice", "b\u03bfb", "ad\u0578in", "\uff42\uff4f\uff42", "\ufb01ona", "Gru\u0308\u00dfe"} {
		if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: name}, now); !errors.Is(err, keyledger.ErrInvalid) {
			t.Errorf("name %q mixing scripts: %v, want invalid", name, err)
		}
	}
	// Names that read as something else in a listing.
	for _, name := range []string{"-", "--", "admin   user.roles_changed", "alice\u2800", "ali\u034Fce", "\u115Falice",
		"alice\u1160", "alice\uFE0F", "ad\uFE00min", "alice\u17B4", "alice\u180B", "a\u00a0b", "a\u3000b", "recovery-20260101T000000Z", "Recovery-x"} {
		if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: name}, now); !errors.Is(err, keyledger.ErrInvalid) {
			t.Errorf("name %q: %v, want invalid", name, err)
		}
	}
	for _, name := range []string{"Алиса", "Grüße", "ci-bot 2", "Ελένη", "山田", "recovery", "x-recovery-1"} {
		if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: name}, now); err != nil {
			t.Errorf("name %q in one script: %v", name, err)
		}
	}
	evs, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: "svc", Kind: "service", Roles: []string{"developer", "auditor", "developer"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r := evs[0].(*events.UserRegistered).Roles; fmt.Sprint(r) != "[auditor developer]" {
		t.Fatalf("roles %v not sorted and deduplicated", r)
	}
	fresh.Apply(evs[0])
	if _, err := commands.DecideRegister(fresh, admin, commands.RegisterUser{UserID: "U1", Name: "again"}, now); !errors.Is(err, keyledger.ErrConflict) {
		t.Fatalf("registering twice: %v", err)
	}
	self := commands.NewOwner("ADMIN")
	self.Apply(&events.UserRegistered{UserID: "ADMIN", Roles: []string{"admin"}})
	if _, err := commands.DecideRoles(self, admin, commands.ChangeRoles{UserID: "ADMIN", Roles: []string{"developer"}}, now); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("admin dropping own admin role: %v", err)
	}
}

func TestDecideExpire(t *testing.T) {
	past := owner("a")
	past.Keys["K0"].ExpiresAt = ptr(now.Add(-time.Second))
	for _, tc := range []struct {
		name   string
		o      *commands.Owner
		reason string
		want   int
	}{
		{"ttl_due_records_expiry", past, "ttl", 1},
		{"ttl_not_due_records_nothing", owner("a"), "ttl", 0},
		{"inactivity_records_expiry", owner("a"), "inactivity", 1},
		{"revoked_key_records_nothing", revokedOwner(), "ttl", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := commands.DecideExpire(tc.o, "K0", tc.reason, now)
			if err != nil || len(evs) != tc.want {
				t.Fatalf("got %d events, %v; want %d", len(evs), err, tc.want)
			}
			if tc.want == 1 && evs[0].(*events.KeyExpired).Reason != tc.reason {
				t.Fatalf("reason %s", evs[0].(*events.KeyExpired).Reason)
			}
		})
	}
}

// The per-owner limits count only keys recorded active; whatever happens to
// keys, that count must equal a count over every key the owner ever held.
func TestActiveKeysFollowsEveryStatusChange(t *testing.T) {
	o := commands.NewOwner("U")
	o.Apply(&events.UserRegistered{UserID: "U", Name: "u"})
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	at := now
	for i := range 5000 {
		if len(ids) == 0 || rng.IntN(3) == 0 {
			id := fmt.Sprint("K", i)
			exp := at.Add(time.Duration(rng.IntN(120)-60) * time.Minute) // some already past
			ev := &events.KeyIssued{KeyID: id, Owner: "U", Name: fmt.Sprint("n", rng.IntN(50)), ExpiresAt: &exp}
			if rng.IntN(4) == 0 {
				ev.ExpiresAt = nil
			}
			o.Apply(ev)
			ids = append(ids, id)
			continue
		}
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(6) {
		case 0:
			o.Apply(&events.KeyRevoked{KeyID: id, Owner: "U"})
		case 1:
			o.Apply(&events.KeyRegenerated{KeyID: id, Owner: "U"})
		case 2:
			o.Apply(&events.KeyExpired{KeyID: id, Owner: "U"})
		case 3:
			o.Apply(&events.KeyDeleted{KeyID: id, Owner: "U"})
		case 4:
			o.Apply(&events.KeyRenamed{KeyID: id, Owner: "U", Name: fmt.Sprint("n", rng.IntN(50))})
		case 5:
			at = at.Add(time.Duration(rng.IntN(90)) * time.Second) // time moves past some expiries
		}
		want := 0
		for _, k := range o.Keys {
			if k.StatusAt(at) == keyledger.StatusActive {
				want++
			}
		}
		if got := o.ActiveKeys(at); got != want {
			t.Fatalf("after %d events: %d active keys counted, %d held", i, got, want)
		}
		name, except := fmt.Sprint("n", rng.IntN(50)), ids[rng.IntN(len(ids))]
		taken := false
		for _, k := range o.Keys {
			if k.ID != except && k.Name == name && k.StatusAt(at) == keyledger.StatusActive {
				taken = true
			}
		}
		if got := o.NameTaken(name, except, at); got != taken {
			t.Fatalf("after %d events: name %q taken (except %s) = %v, want %v", i, name, except, got, taken)
		}
	}
}
