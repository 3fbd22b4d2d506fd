package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledgertest"
	"github.com/keyledger/keyledger/projections"
	"github.com/oklog/ulid/v2"
)

// ledger is a running instance over a real NATS server and SQLite file,
// with short names for what these tests use most.
type ledger struct {
	*ledgertest.Ledger
	svc   *commands.Service
	store *events.Store
	db    *projections.DB
	admin commands.Actor
	token string // the admin's token
}

func wrap(l *ledgertest.Ledger) *ledger {
	return &ledger{Ledger: l, svc: l.Service, store: l.Store, db: l.DB, admin: l.Admin, token: l.Token}
}

func newLedger(t *testing.T) *ledger { return wrap(ledgertest.New(t)) }

// join starts a second instance on l's stream, acting as l's admin.
func (l *ledger) join(t *testing.T) *ledger { return wrap(l.Join(t)) }

// pause stops this instance's projector.
func (l *ledger) pause() { l.Pause() }

// developer registers a developer and returns them with a token of theirs.
func (l *ledger) developer(t *testing.T, name string) (commands.Actor, string) {
	t.Helper()
	return l.Developer(t, name)
}

// changesSince returns the events stored after seq other than AccessDenied
// (refused attempts are recorded by design; they change nothing), once the
// denials recorded in the background have landed.
func (l *ledger) changesSince(t *testing.T, seq uint64) []string {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	recs, err := l.store.After(context.Background(), "keyledger.events.>", seq)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if _, denied := r.Event.(*events.AccessDenied); !denied {
			out = append(out, r.Subject)
		}
	}
	return out
}

func (l *ledger) lastSeq(t *testing.T) uint64 {
	t.Helper()
	return l.LastSeq(t)
}

// raceIssues issues n keys for actor at once, spread over the instances in
// turn, and counts the outcomes by error code ("" for issued).
func raceIssues(actor commands.Actor, n int, instances ...*ledger) map[string]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range n {
		l := instances[i%len(instances)]
		wg.Go(func() {
			_, err := l.svc.IssueKey(context.Background(), actor, "", commands.IssueKey{Name: fmt.Sprintf("k%d", i)})
			mu.Lock()
			codes[keyledger.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

func TestIssueLimitHoldsWhenTwentyRace(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	dev, _ := l.developer(t, "dev") // holds one active key already: 4 slots remain
	codes := raceIssues(dev, 20, l)
	if codes[""] != 4 || codes[keyledger.ELimitReached] != 16 {
		t.Fatalf("outcomes %v; want 4 issued and 16 limit_reached", codes)
	}
	page, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{Status: "active"})
	if err != nil || len(page.Keys) != 5 {
		t.Fatalf("%d active keys (%v), want 5", len(page.Keys), err)
	}
}

func TestRetriedCommandIsAppliedOnce(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	first, err := l.svc.IssueKey(ctx, dev, "cmd-1", commands.IssueKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	seq := l.lastSeq(t)
	again, err := l.svc.IssueKey(ctx, dev, "cmd-1", commands.IssueKey{Name: "ci"})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.ID != first.ID || again.Token != "" || !again.Replayed {
		t.Fatalf("retry answered key %s token %q replayed %v; want key %s, no token, replayed", again.ID, again.Token, again.Replayed, first.ID)
	}
	if l.lastSeq(t) != seq {
		t.Fatal("the retry stored events")
	}
	res, err := l.svc.RevokeKeys(ctx, dev, "cmd-2", commands.RevokeKeys{KeyIDs: []string{first.ID}})
	if err != nil || len(res.Revoked) != 1 {
		t.Fatalf("revoke: %+v %v", res, err)
	}
	res, err = l.svc.RevokeKeys(ctx, dev, "cmd-2", commands.RevokeKeys{KeyIDs: []string{first.ID}})
	if err != nil || len(res.Revoked) != 1 || len(res.Failed) != 0 {
		t.Fatalf("revoke retry answered %+v %v; want the same success", res, err)
	}
}

func TestRetriedRegistrationRegistersOnce(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	first, err := l.svc.RegisterUser(ctx, l.admin, "reg-1", commands.RegisterUser{Name: "svc", Kind: "service"})
	if err != nil {
		t.Fatal(err)
	}
	seq := l.lastSeq(t)
	again, err := l.svc.RegisterUser(ctx, l.admin, "reg-1", commands.RegisterUser{Name: "svc", Kind: "service"})
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry answered %+v, %v; want user %s", again, err, first.ID)
	}
	if l.lastSeq(t) != seq {
		t.Fatal("the retry stored events")
	}
	other, err := l.svc.RegisterUser(ctx, l.admin, "reg-2", commands.RegisterUser{Name: "svc-2"})
	if err != nil || other.ID == first.ID {
		t.Fatalf("a new command registered %+v, %v", other, err)
	}
	// The CLI's command IDs are ULIDs: the user's ID then sorts by time
	// like every other ID, and a retry still finds the same user.
	cmdID := ulid.Make()
	u, err := l.svc.RegisterUser(ctx, l.admin, cmdID.String(), commands.RegisterUser{Name: "svc-3"})
	if err != nil {
		t.Fatal(err)
	}
	if id := ulid.MustParse(u.ID); id.Time() != cmdID.Time() || u.ID == cmdID.String() {
		t.Fatalf("registered %s (time %d) for command %s (time %d); want the command's time and another ID", u.ID, id.Time(), cmdID, cmdID.Time())
	}
	if again, err := l.svc.RegisterUser(ctx, l.admin, cmdID.String(), commands.RegisterUser{Name: "svc-3"}); err != nil || again.ID != u.ID {
		t.Fatalf("retry answered %+v, %v; want user %s", again, err, u.ID)
	}
	// So through the API too, where the Idempotency-Key is scoped to the
	// call (the IDs a newcomer got did not sort by time).
	cmdID = ulid.Make()
	res, err := l.svc.Call(ctx, endpointNamed(t, "cmd.user.register"), "Bearer "+l.token, cmdID.String(), []byte(`{"name":"svc-4"}`))
	if err != nil {
		t.Fatal(err)
	}
	if id := ulid.MustParse(res.(*keyledger.User).ID); id.Time() != cmdID.Time() {
		t.Fatalf("registered through the API: %s (time %d) for Idempotency-Key %s (time %d)", id, id.Time(), cmdID, cmdID.Time())
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, devToken := l.developer(t, "dev")
	other, _ := l.developer(t, "other")
	theirs, err := l.svc.IssueKey(ctx, other, "", commands.IssueKey{Name: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	issue := endpointNamed(t, "cmd.key.issue")
	revoke := endpointNamed(t, "cmd.key.revoke")
	settings := endpointNamed(t, "cmd.settings.set")
	before := l.lastSeq(t)
	for _, tc := range []struct {
		name  string
		ep    commands.Endpoint
		token string
		body  string
		code  string
	}{
		{"malformed_json", issue, devToken, `{"name":`, "invalid"},
		{"unknown_field", issue, devToken, `{"name":"x","colour":"red"}`, "invalid"},
		{"wrong_type", issue, devToken, `{"name":42}`, "invalid"},
		{"trailing_data", issue, devToken, `{"name":"x"} {}`, "invalid"},
		{"oversize_name", issue, devToken, fmt.Sprintf(`{"name":%q}`, fmt.Sprintf("%101s", "x")), "invalid"},
		{"bad_period", issue, devToken, `{"name":"x","expires_in":"90 days"}`, "invalid"},
		{"unknown_key", revoke, devToken, `{"key_ids":["01J00000000000000000000000"]}`, ""},
		{"anothers_key", revoke, devToken, fmt.Sprintf(`{"key_ids":[%q]}`, theirs.ID), ""},
		{"developer_sets_policy", settings, devToken, `{"enabled":false}`, "forbidden"},
		{"no_token", issue, "", `{"name":"x"}`, "unauthenticated"},
		{"typo_in_token", issue, typo(devToken, len(devToken)-1), `{"name":"x"}`, "unauthenticated"},
		{"bad_max_keys", settings, l.token, `{"max_active_keys_per_user":5000}`, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.svc.Call(ctx, tc.ep, "Bearer "+tc.token, "", []byte(tc.body))
			if tc.code == "" { // multi-key commands report per key
				r := res.(*commands.RevokeResult)
				if err != nil || len(r.Revoked) != 0 || len(r.Failed) != 1 {
					t.Fatalf("got %+v %v; want one failure", r, err)
				}
				return
			}
			wantCode(t, err, tc.code)
			if msg := keyledger.ErrorMessage(err); msg == "" {
				t.Fatal("error has no message")
			}
		})
	}
	if changes := l.changesSince(t, before); len(changes) > 0 {
		t.Fatalf("bad input stored %d events: %v", len(changes), changes)
	}
	got, _ := l.svc.Key(ctx, l.admin, theirs.ID)
	if got.Status != keyledger.StatusActive {
		t.Fatalf("another's key is %s after a refused revoke", got.Status)
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

func endpointNamed(t *testing.T, name string) commands.Endpoint {
	for _, ep := range commands.Endpoints() {
		if ep.Name == name {
			return ep
		}
	}
	t.Fatalf("no endpoint %s", name)
	return commands.Endpoint{}
}

func TestRevokedKeyNoLongerAuthenticatesAndRegenerateGivesNewSecret(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, token := l.developer(t, "dev")
	if _, err := l.svc.RevokeKeys(ctx, l.admin, "", commands.RevokeKeys{KeyIDs: []string{dev.KeyID}, Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.Authenticate(ctx, "Bearer "+token); !errors.Is(err, keyledger.ErrUnauthenticated) {
		t.Fatalf("revoked key authenticates: %v", err)
	}
	k, err := l.svc.RegenerateKey(ctx, l.admin, "", commands.RegenerateKey{KeyID: dev.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != dev.KeyID || k.Token == "" || k.Token == token {
		t.Fatalf("regenerated key %s with token change %v", k.ID, k.Token != token)
	}
	if _, err := l.svc.Authenticate(ctx, "Bearer "+token); err == nil {
		t.Fatal("the old secret still works after regenerate")
	}
	if a, err := l.svc.Authenticate(ctx, "Bearer "+k.Token); err != nil || a.UserID != dev.UserID {
		t.Fatalf("new secret: %v", err)
	}
	// A NATS connection made with the old secret, still open, is no
	// longer the key; one made with the new secret is.
	if _, err := l.svc.AuthenticateKey(ctx, dev.KeyID, connectionTag(token)); !errors.Is(err, keyledger.ErrUnauthenticated) || !strings.Contains(err.Error(), "regenerated") {
		t.Fatalf("a connection made with the old secret: %v", err)
	}
	if a, err := l.svc.AuthenticateKey(ctx, dev.KeyID, connectionTag(k.Token)); err != nil || a.UserID != dev.UserID {
		t.Fatalf("a connection made with the new secret: %v", err)
	}
}

// connectionTag is the tag the auth callout puts in the NATS user name of
// a connection made with token.
func connectionTag(token string) string {
	keyID, secret, _ := keyledger.ParseToken(token)
	_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(keyID, secret))
	return tag
}

// An admin revokes a developer's key after suspicious use; the developer,
// with another key of hers, cannot undo that by regenerating it, on any
// instance (a second one refills the owner from its own SQLite). Her own
// revocations she may still undo.
func TestOwnerCannotRegenerateAKeyAnAdminRevoked(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	ci, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	own, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.RevokeKeys(ctx, l.admin, "", commands.RevokeKeys{KeyIDs: []string{ci.ID}, Reason: "suspicious use"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.RevokeKeys(ctx, dev, "", commands.RevokeKeys{KeyIDs: []string{own.ID}}); err != nil {
		t.Fatal(err)
	}
	other := l.join(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, _, err := other.db.OwnerState(ctx, dev.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if mine := o.Keys[own.ID]; mine != nil && mine.Status == keyledger.StatusRevoked { // the later revocation
			if k := o.Keys[ci.ID]; !k.RevokedByOther {
				t.Fatalf("refilled from SQLite, the key the admin revoked: %+v", k)
			}
			if mine.RevokedByOther {
				t.Fatalf("refilled from SQLite, the key she revoked herself: %+v", mine)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second instance never projected the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, inst := range []*ledger{l, other} {
		_, err := inst.svc.RegenerateKey(ctx, dev, "", commands.RegenerateKey{KeyID: ci.ID})
		wantCode(t, err, keyledger.EForbidden)
	}
	if _, err := other.svc.RegenerateKey(ctx, dev, "", commands.RegenerateKey{KeyID: own.ID}); err != nil {
		t.Fatalf("regenerating a key she revoked herself: %v", err)
	}
	if _, err := other.svc.RegenerateKey(ctx, l.admin, "", commands.RegenerateKey{KeyID: ci.ID}); err != nil {
		t.Fatalf("the admin regenerating it: %v", err)
	}
}

func TestDeactivateDeletesEveryKeyAtomically(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, token := l.developer(t, "dev")
	for i := range 3 {
		if _, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := l.lastSeq(t)
	if _, err := l.svc.DeactivateUser(ctx, l.admin, "", commands.DeactivateUser{UserID: dev.UserID}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.store.Load(ctx, events.OwnerSubjects(dev.UserID))
	if err != nil {
		t.Fatal(err)
	}
	tail := recs[len(recs)-5:]
	for i, r := range tail {
		if r.Seq != before+uint64(i)+1 {
			t.Fatalf("deactivation events are not contiguous: %d at %d", r.Seq, i)
		}
	}
	if l.lastSeq(t) != before+5 || tail[4].Event.Action() != "deactivated" {
		t.Fatalf("want 4 deletions and a deactivation in one batch, stream moved %d", l.lastSeq(t)-before)
	}
	page, _ := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Owner: dev.UserID, Status: "active"})
	if len(page.Keys) != 0 {
		t.Fatalf("%d keys still active", len(page.Keys))
	}
	if _, err := l.svc.Authenticate(ctx, "Bearer "+token); err == nil {
		t.Fatal("a deactivated user's key still authenticates")
	}
}

func TestBootstrapHappensOnce(t *testing.T) {
	l := newLedger(t)
	created, err := l.svc.Bootstrap(context.Background(), func(string) error { return nil })
	if err != nil || created {
		t.Fatalf("second bootstrap: created %v, %v", created, err)
	}
	users, _ := l.svc.Users(context.Background(), l.admin, "admin")
	if len(users) != 1 {
		t.Fatalf("%d admins", len(users))
	}
}

func TestDeveloperSeesOnlyOwnKeys(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	other, _ := l.developer(t, "other")
	page, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range page.Keys {
		if k.Owner != dev.UserID {
			t.Fatalf("developer sees %s's key", k.Owner)
		}
	}
	if _, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{Owner: other.UserID}); !errors.Is(err, keyledger.ErrForbidden) {
		t.Fatalf("listing another's keys: %v", err)
	}
	// Another owner's key answers exactly as a key that does not exist.
	_, errOther := l.svc.Key(ctx, dev, other.KeyID)
	_, errMissing := l.svc.Key(ctx, dev, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if !errors.Is(errOther, keyledger.ErrNotFound) || keyledger.ErrorMessage(errOther) != strings.Replace(keyledger.ErrorMessage(errMissing), "01ARZ3NDEKTSV4RRFFQ69G5FAV", other.KeyID, 1) {
		t.Fatalf("showing another's key: %v; a missing one: %v", errOther, errMissing)
	}
	if len(page.Keys) != 1 {
		t.Fatalf("developer sees %d keys, want their 1", len(page.Keys))
	}
}

// TestTimesPastYear9999Refused: 9999-12-31T23:00:00-05:00 is valid RFC
// 3339 but year 10000 in UTC, and compared as text it sorted before every
// stored time: "created after" it matched every key, so a revoke by
// lineage would have revoked them all. Every such time, and one before
// year 1, is invalid, and nothing is revoked or stored; an expiry past
// 100 years is refused too (a NATS user could not carry it).
func TestTimesPastYear9999Refused(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, devToken := l.developer(t, "dev")
	never := true
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{MaxExpiry: ptr("never"), Enabled: &never}); err != nil {
		t.Fatal(err)
	}
	before := l.lastSeq(t)
	const late, early = "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+23:59"
	for _, tc := range []struct {
		ep, token, body string
	}{
		{"cmd.key.revoke_matching", l.token, `{"created_after":"` + late + `","reason":"x"}`},
		{"cmd.key.revoke_matching", l.token, `{"created_before":"` + early + `","reason":"x"}`},
		{"cmd.key.revoke_matching", l.token, `{"owner":"dev","used_from":"10.0.0.0/8","used_since":"` + late + `","reason":"x"}`},
		{"query.keys", l.token, `{"expires_before":"` + late + `"}`},
		{"query.keys", l.token, `{"created_after":"` + early + `"}`},
		{"query.keys", l.token, `{"as_of":"0000-01-01T00:00:00+23:59"}`},
		{"query.audit", l.token, `{"since":"` + late + `"}`},
		{"query.audit", l.token, `{"until":"` + early + `"}`},
		{"cmd.key.issue", devToken, `{"name":"y","expires_at":"9999-12-31T23:59:59-23:59"}`},
		{"cmd.key.issue", devToken, `{"name":"y","expires_at":"9999-12-31T23:59:59Z"}`},
		{"cmd.key.issue", devToken, `{"name":"y","expires_at":"2300-01-01T00:00:00Z"}`},
	} {
		_, err := l.svc.Call(ctx, endpointNamed(t, tc.ep), "Bearer "+tc.token, "", []byte(tc.body))
		if keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("%s %s: %v, want invalid", tc.ep, tc.body, err)
		}
	}
	if changes := l.changesSince(t, before); len(changes) > 0 {
		t.Fatalf("stored %d events: %v", len(changes), changes)
	}
	if _, err := l.svc.Call(ctx, endpointNamed(t, "cmd.key.issue"), "Bearer "+devToken, "", []byte(`{"name":"y","expires_at":"2100-01-01T00:00:00Z"}`)); err != nil {
		t.Fatalf("an expiry 74 years out: %v", err)
	}
}

// TestKeyledgersOwnActorNamesAreNotUserNames: the audit filters read
// "system" and "recovery" as keyledger itself, so a user of that name
// could never be found by it; registering one is invalid.
func TestKeyledgersOwnActorNamesAreNotUserNames(t *testing.T) {
	l := newLedger(t)
	before := l.lastSeq(t)
	for _, name := range []string{"system", "System", "RECOVERY"} {
		_, err := l.svc.RegisterUser(context.Background(), l.admin, "", commands.RegisterUser{Name: name, Kind: "person"})
		wantCode(t, err, keyledger.EInvalid)
	}
	if changes := l.changesSince(t, before); len(changes) > 0 {
		t.Fatalf("stored %v", changes)
	}
	if _, err := l.svc.RegisterUser(context.Background(), l.admin, "", commands.RegisterUser{Name: "systems-team", Kind: "service"}); err != nil {
		t.Fatal(err)
	}
}

// TestDevelopersCannotProbeUserNames: a developer, who may not list users,
// gets the same refusal for created_by naming a user who exists and one
// who does not, and their own name works; an admin is told the name is no
// one's.
func TestDevelopersCannotProbeUserNames(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	l.developer(t, "bob")
	var msgs []string
	for _, name := range []string{"bob", "nosuch"} {
		_, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{CreatedBy: name})
		wantCode(t, err, keyledger.EInvalid)
		msgs = append(msgs, strings.ReplaceAll(keyledger.ErrorMessage(err), name, "NAME"))
	}
	if msgs[0] != msgs[1] {
		t.Errorf("a name that exists and one that does not are refused apart: %q, %q", msgs[0], msgs[1])
	}
	if _, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{CreatedBy: "dev"}); err != nil {
		t.Errorf("created_by their own name: %v", err)
	}
	_, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{CreatedBy: "nosuch"})
	wantCode(t, err, keyledger.EInvalid)
}

// TestADeactivatedUsersNameIsNotGivenAgain: the audit trail names users,
// so a new bob would read as the old one in every entry of his; the name
// stays the old bob's, in any case.
func TestADeactivatedUsersNameIsNotGivenAgain(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	bob, _ := l.developer(t, "bob")
	if _, err := l.svc.DeactivateUser(ctx, l.admin, "", commands.DeactivateUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bob", "Bob"} {
		_, err := l.svc.RegisterUser(ctx, l.admin, "", commands.RegisterUser{Name: name, Kind: "person"})
		wantCode(t, err, keyledger.EConflict)
		if msg := keyledger.ErrorMessage(err); !strings.Contains(msg, bob.UserID) || !strings.Contains(msg, "deactivated") {
			t.Errorf("registering %q again: %q", name, msg)
		}
	}
	if _, err := l.svc.RegisterUser(ctx, l.admin, "", commands.RegisterUser{Name: "bob-2", Kind: "person"}); err != nil {
		t.Fatal(err)
	}
}
