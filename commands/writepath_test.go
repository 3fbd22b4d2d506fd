package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// consumers counts the consumers of the event stream.
func (l *ledger) consumers(t *testing.T) int {
	t.Helper()
	st, err := l.store.JS.Stream(context.Background(), l.store.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// Before, every command created a consumer that lived five minutes, and
// nats-server allows 1,000 per stream: command 500 and later failed.
func TestThreeThousandCommandsAllSucceedAndCreateNoConsumer(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(1000)}); err != nil {
		t.Fatal(err)
	}
	const owners, perOwner = 8, 125 // 8 × 125 × (issue, rename, revoke) = 3,000
	devs := make([]commands.Actor, owners)
	for i := range devs {
		devs[i], _ = l.developer(t, fmt.Sprintf("dev%d", i))
	}
	before := l.consumers(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]int{}
	fail := func(err error) {
		mu.Lock()
		failed[keyledger.ErrorCode(err)+": "+keyledger.ErrorMessage(err)]++
		mu.Unlock()
	}
	for _, dev := range devs {
		wg.Go(func() {
			for i := range perOwner {
				k, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprintf("k%d", i)})
				if err != nil {
					fail(err)
					continue
				}
				name := fmt.Sprintf("renamed-%d", i)
				if _, err := l.svc.UpdateKey(ctx, dev, "", commands.UpdateKey{KeyID: k.ID, Name: &name}); err != nil {
					fail(err)
				}
				if res, err := l.svc.RevokeKeys(ctx, dev, "", commands.RevokeKeys{KeyIDs: []string{k.ID}}); err != nil || len(res.Revoked) != 1 {
					fail(fmt.Errorf("revoke %+v: %w", res, err))
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("failures: %v", failed)
	}
	if after := l.consumers(t); after != before {
		t.Fatalf("the stream had %d consumers before 3,000 commands and %d after", before, after)
	}
	page, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Status: keyledger.StatusRevoked, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Keys); n != 1000 || page.NextCursor != "" {
		t.Fatalf("%d revoked keys (more: %v); want exactly 1,000", n, page.NextCursor != "")
	}
}

// Two instances each decide on their own in-memory copy of the owner; the
// expected sequence on every append keeps the limit exact.
func TestIssueLimitHoldsAcrossTwoInstances(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	if _, err := a.svc.SetSettings(ctx, a.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(6)}); err != nil {
		t.Fatal(err)
	}
	dev, _ := a.developer(t, "dev") // one active key: 5 slots remain
	b := a.join(t)
	// Both instances hold the owner in memory before the race.
	for _, l := range []*ledger{a, b} {
		if _, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.svc.UpdateKey(ctx, dev, "", commands.UpdateKey{KeyID: dev.KeyID, Description: ptr("warm " + fmt.Sprint(l == b))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.svc.Applied.WaitFor(ctx, b.lastSeq(t)); err != nil {
		t.Fatal(err)
	}
	codes := raceIssues(dev, 30, a, b)
	if codes[""] != 5 || codes[keyledger.ELimitReached] != 25 {
		t.Fatalf("outcomes %v; want 5 issued and 25 limit_reached", codes)
	}
	recs, _, err := a.store.Load(ctx, "keyledger.events.user."+dev.UserID+".issued")
	if err != nil || len(recs) != 6 {
		t.Fatalf("the stream holds %d KeyIssued for the owner (%v), want 6", len(recs), err)
	}
}

// An instance whose follower lags decides on stale state; its append must
// lose, and it must read the owner's newer events and decide again. This is
// what the expected sequence on every append is for.
func TestLaggingInstanceCannotExceedTheLimit(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	if _, err := a.svc.SetSettings(ctx, a.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(3)}); err != nil {
		t.Fatal(err)
	}
	dev, _ := a.developer(t, "dev")
	b := a.join(t)
	if _, err := b.svc.UpdateKey(ctx, dev, "", commands.UpdateKey{KeyID: dev.KeyID, Description: ptr("b holds the owner")}); err != nil {
		t.Fatal(err)
	}
	b.pause()
	for i := range 2 {
		if _, err := a.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprintf("a%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := b.svc.IssueKey(tctx, dev, "", commands.IssueKey{Name: "from-b"})
	wantCode(t, err, keyledger.ELimitReached)
	recs, _, err := a.store.Load(ctx, "keyledger.events.user."+dev.UserID+".issued")
	if err != nil || len(recs) != 3 {
		t.Fatalf("the stream holds %d KeyIssued for the owner (%v), want 3", len(recs), err)
	}
}

// An admin's policy change on one instance holds for the very next command
// on another, even one whose follower has not seen it: each command checks
// the newest stored settings event, not only its in-memory copy.
func TestSettingsChangedElsewhereHoldAtOnce(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	if _, err := a.svc.SetSettings(ctx, a.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	dev, _ := a.developer(t, "dev") // one active key
	b := a.join(t)
	if _, err := b.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "b holds the policy"}); err != nil {
		t.Fatal(err)
	}
	b.pause()
	for range 2 { // the same settings again: b holds them and need not decode them
		if _, err := b.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprint("b", time.Now().UnixNano())}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.svc.SetSettings(ctx, a.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(4)}); err != nil {
		t.Fatal(err)
	}
	_, err := b.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "over the new limit"})
	wantCode(t, err, keyledger.ELimitReached)
}

// Each instance learns what the other appended: from the follower, or by
// reading the owner's newer events when its append loses.
func TestInstancesTakingTurnsOnOneKeyStayCurrent(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	dev, _ := a.developer(t, "dev")
	b := a.join(t)
	var last string
	for i := range 60 {
		l := []*ledger{a, b}[i%2]
		last = fmt.Sprintf("name-%d", i)
		if _, err := l.svc.UpdateKey(ctx, dev, "", commands.UpdateKey{KeyID: dev.KeyID, Name: &last}); err != nil {
			t.Fatalf("rename %d on instance %d: %v", i, i%2, err)
		}
	}
	for i, l := range []*ledger{a, b} {
		if err := l.svc.Applied.WaitFor(ctx, a.lastSeq(t)); err != nil {
			t.Fatal(err)
		}
		k, err := l.svc.Key(ctx, dev, dev.KeyID)
		if err != nil || k.Name != last {
			t.Fatalf("instance %d shows name %q (%v), want %q", i, k.Name, err, last)
		}
	}
}

// A command ID is recognised by an instance that never saw the command in
// memory: the projections record it, not JetStream's two-minute window.
func TestRetryIsRecognisedByAnotherInstanceFromSQLite(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	dev, _ := a.developer(t, "dev")
	first, err := a.svc.IssueKey(ctx, dev, "issue-1", commands.IssueKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	b := a.join(t)
	seq := a.lastSeq(t)
	again, err := b.svc.IssueKey(ctx, dev, "issue-1", commands.IssueKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Token != "" || !again.Replayed {
		t.Fatalf("retry on another instance answered %s (token shown: %v, replayed %v); want %s replayed",
			again.ID, again.Token != "", again.Replayed, first.ID)
	}
	if a.lastSeq(t) != seq {
		t.Fatal("the retry stored events")
	}
}

// Memory is bounded: owners beyond the bound are refilled from SQLite, and
// every decision still sees every key.
func TestLimitsHoldWhenOwnersAreEvictedFromMemory(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.svc.SetMaxCachedKeys(4)
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{MaxActiveKeysPerUser: ptr(3)}); err != nil {
		t.Fatal(err)
	}
	var devs []commands.Actor
	for i := range 12 {
		dev, _ := l.developer(t, fmt.Sprintf("dev%d", i)) // each holds one key
		devs = append(devs, dev)
	}
	for round := range 3 {
		for i, dev := range devs {
			_, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprintf("r%d", round)})
			switch {
			case round < 2 && err != nil:
				t.Fatalf("dev%d round %d: %v", i, round, err)
			case round == 2:
				wantCode(t, err, keyledger.ELimitReached)
			}
		}
	}
}

// IDs become subject tokens. Wildcards, dots, spaces and non-ASCII in any ID
// field are refused as invalid before anything is read or stored; before,
// {"owner":"*"} stored an event the projections could never apply.
func TestHostileIDsAreInvalidAndStoreNothing(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, devToken := l.developer(t, "dev")
	bodies := map[string][]string{
		"cmd.key.issue":       {`{"name":"x","owner":%s}`},
		"cmd.key.update":      {`{"key_id":%s,"name":"y"}`},
		"cmd.key.revoke":      {`{"key_ids":[%s]}`},
		"cmd.key.regenerate":  {`{"key_id":%s}`},
		"cmd.key.delete":      {`{"key_ids":[%s]}`, `{"owner":%s,"all":true}`},
		"cmd.user.roles":      {`{"user_id":%s,"roles":["developer"]}`},
		"cmd.user.deactivate": {`{"user_id":%s}`},
		"query.key":           {`{"key_id":%s}`},
		"query.keys":          {`{"owner":%s}`, `{"created_by":%s}`},
	}
	hostile := []string{`"*"`, `">"`, `"a.b"`, `"01J00000000000000000000000.>"`, `"01J0000000000000 000000000"`,
		`"ключ"`, `"01j00000000000000000000000"`, `"\u0000"`, `"` + strings.Repeat("9", 5000) + `"`}
	before := l.lastSeq(t)
	for name, shapes := range bodies {
		ep := endpointNamed(t, name)
		for _, shape := range shapes {
			for _, id := range hostile {
				body := fmt.Sprintf(shape, id)
				for _, token := range []string{l.token, devToken} {
					_, err := l.svc.Call(ctx, ep, "Bearer "+token, "", []byte(body))
					if code := keyledger.ErrorCode(err); code != keyledger.EInvalid && code != keyledger.EForbidden {
						t.Errorf("%s %.60s: code %q (%v), want invalid", name, body, code, err)
					}
					if token == l.token {
						wantCode(t, err, keyledger.EInvalid)
					}
				}
			}
		}
	}
	if changes := l.changesSince(t, before); len(changes) > 0 {
		t.Fatalf("hostile IDs stored %d events: %v", len(changes), changes)
	}
}

// A token pasted where a key ID belongs is named as a token; its secret is
// never echoed.
func TestTokenInsteadOfKeyIDIsNamedNotEchoed(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, token := l.developer(t, "dev")
	_, err := l.svc.Key(ctx, dev, token)
	wantCode(t, err, keyledger.EInvalid)
	msg := keyledger.ErrorMessage(err)
	if strings.Contains(msg, token[len("kl_")+27:]) || !strings.Contains(msg, dev.KeyID) {
		t.Fatalf("message %q: want the key ID named and no secret", msg)
	}
}

// A user's unique name works wherever a user ID does.
func TestUserNamesResolveToIDs(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "alice")
	k, err := l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Owner: "alice", Name: "by-name"})
	if err != nil || k.Owner != dev.UserID {
		t.Fatalf("issue for alice: %+v %v", k, err)
	}
	page, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Owner: "alice"})
	if err != nil || len(page.Keys) != 2 {
		t.Fatalf("keys of alice: %d %v", len(page.Keys), err)
	}
	page, err = l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{CreatedBy: "admin"})
	if err != nil || len(page.Keys) != 2 {
		t.Fatalf("keys created by admin: %d %v", len(page.Keys), err)
	}
	_, err = l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Owner: "nobody"})
	wantCode(t, err, keyledger.EInvalid)
	// A second alice, as two instances racing to register one name can
	// store (each checks only its own projections).
	second := ulid.Make().String()
	seq, err := l.store.Append(ctx, events.OwnerSubjects(second), 0, "", []events.Event{&events.UserRegistered{
		Meta: events.Meta{At: time.Now().UTC(), Actor: l.admin.UserID}, UserID: second, Name: "alice", Kind: "person"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Projector.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Owner: "alice", Name: "ambiguous"})
	wantCode(t, err, keyledger.EInvalid)
	if !strings.Contains(keyledger.ErrorMessage(err), dev.UserID) {
		t.Fatalf("ambiguous name: %q does not list the IDs", keyledger.ErrorMessage(err))
	}
}

// as_of answers are the ledger exactly as it stood then: at every step of a
// key's life, what a query answered live is what as_of answers later.
func TestAsOfEqualsWhatWasAnsweredThen(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	type moment struct {
		seq  uint64
		key  string // the key as query.key answered then
		list string // query.keys then
	}
	var moments []moment
	k, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "v1", ExpiresIn: "P30D"})
	if err != nil {
		t.Fatal(err)
	}
	snap := func() {
		one, err := l.svc.Key(ctx, dev, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		all, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		moments = append(moments, moment{l.lastSeq(t), jsonOf(t, one), jsonOf(t, all)})
	}
	snap()
	name := "v2"
	steps := []func() error{
		func() error {
			_, err := l.svc.UpdateKey(ctx, dev, "", commands.UpdateKey{KeyID: k.ID, Name: &name})
			return err
		},
		func() error {
			_, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "second"})
			return err
		},
		func() error {
			_, err := l.svc.RevokeKeys(ctx, dev, "", commands.RevokeKeys{KeyIDs: []string{k.ID}, Reason: "leaked"})
			return err
		},
		func() error {
			_, err := l.svc.RegenerateKey(ctx, dev, "", commands.RegenerateKey{KeyID: k.ID})
			return err
		},
		func() error {
			_, err := l.svc.DeleteKeys(ctx, dev, "", commands.DeleteKeys{KeyIDs: []string{k.ID}})
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		snap()
	}
	for i, m := range moments {
		asOf := fmt.Sprintf("seq:%d", m.seq)
		one, err := l.svc.KeyAsOf(ctx, dev, k.ID, asOf)
		if err != nil {
			t.Fatalf("moment %d: %v", i, err)
		}
		all, err := l.svc.Keys(ctx, dev, keyledger.KeyFilter{AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonOf(t, one); got != m.key {
			t.Errorf("moment %d (%s): key\n got %s\nwant %s", i, asOf, got, m.key)
		}
		if got := jsonOf(t, all); got != m.list {
			t.Errorf("moment %d (%s): list\n got %s\nwant %s", i, asOf, got, m.list)
		}
	}
	_, err = l.svc.KeyAsOf(ctx, dev, k.ID, fmt.Sprintf("seq:%d", moments[0].seq-4))
	wantCode(t, err, keyledger.ENotFound) // before the key was issued
	_, err = l.svc.KeyAsOf(ctx, dev, k.ID, "yesterday")
	wantCode(t, err, keyledger.EInvalid)
	byTime, err := l.svc.KeyAsOf(ctx, dev, k.ID, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil || byTime.Status != keyledger.StatusDeleted {
		t.Fatalf("as_of now: %+v %v", byTime, err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Revoking by lineage: every active key one admin issued in a window goes,
// in one call, with one reason; a dry run lists them and changes nothing.
func TestRevokeMatchingIssuerAndWindow(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Second)
	now := base
	l.svc.Now = func() time.Time { return now }
	rogue, _ := l.User(t, "rogue-admin", "admin")
	dev, _ := l.developer(t, "dev")
	var bad []string
	for i := range 30 {
		now = base.Add(time.Duration(i) * time.Minute)
		issuer := l.admin
		if i >= 10 && i < 20 {
			issuer = rogue
		}
		k, err := l.svc.IssueKey(ctx, issuer, "", commands.IssueKey{Owner: dev.UserID, Name: fmt.Sprint("k", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i >= 10 && i < 18 {
			bad = append(bad, k.ID)
		}
	}
	filter := commands.RevokeMatching{CreatedBy: "rogue-admin", CreatedBefore: ptr(base.Add(18 * time.Minute)), Reason: "rogue admin", DryRun: true}
	seq := l.lastSeq(t)
	dry, err := l.svc.RevokeMatching(ctx, l.admin, "", filter)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Matched) != len(bad) || len(dry.Revoked) != 0 || l.lastSeq(t) != seq {
		t.Fatalf("dry run matched %d (want %d), revoked %d, stored %d events", len(dry.Matched), len(bad), len(dry.Revoked), l.lastSeq(t)-seq)
	}
	filter.DryRun = false
	res, err := l.svc.RevokeMatching(ctx, l.admin, "revoke-rogue", filter)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sorted(res.Revoked)) != fmt.Sprint(sorted(bad)) {
		t.Fatalf("revoked %v, want %v", res.Revoked, bad)
	}
	page, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Owner: dev.UserID, Status: keyledger.StatusActive, Limit: 100})
	if err != nil || len(page.Keys) != 31-len(bad) {
		t.Fatalf("%d keys still active (%v), want %d", len(page.Keys), err, 31-len(bad))
	}
	k, _ := l.svc.Key(ctx, l.admin, bad[0])
	if k.RevokeReason != "rogue admin" {
		t.Fatalf("revoke reason %q", k.RevokeReason)
	}
	_, err = l.svc.RevokeMatching(ctx, l.admin, "", commands.RevokeMatching{Reason: "everything"})
	wantCode(t, err, keyledger.EInvalid)
	_, err = l.svc.RevokeMatching(ctx, dev, "", commands.RevokeMatching{Owner: dev.UserID})
	wantCode(t, err, keyledger.EForbidden)
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// used_from matches keys by the addresses usage recorded for them.
func TestRevokeMatchingUsedFrom(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	var ids []string
	for i := range 3 {
		k, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprint("k", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	minute := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05.000Z")
	for i, ip := range []string{"203.0.113.5", "198.51.100.9", "203.0.113.200"} {
		if _, err := l.db.SQL().Exec(`INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, ?, 1)`, ids[i], minute, ip); err != nil {
			t.Fatal(err)
		}
	}
	res, err := l.svc.RevokeMatching(ctx, l.admin, "", commands.RevokeMatching{UsedFrom: "203.0.113.0/24", Reason: "botnet"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sorted(res.Revoked)) != fmt.Sprint(sorted([]string{ids[0], ids[2]})) {
		t.Fatalf("revoked %v, want keys 0 and 2 of %v", res.Revoked, ids)
	}
	_, err = l.svc.RevokeMatching(ctx, l.admin, "", commands.RevokeMatching{UsedFrom: "fe80::1%eth0"})
	wantCode(t, err, keyledger.EInvalid)
}

// Names stand for IDs, so they are unique, never ID-shaped, and a developer
// cannot use the owner field to learn which names exist; their own name
// stands for them as an admin's does.
func TestUserNamesAreUniqueAndNotProbed(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	bob, _ := l.developer(t, "bob")
	l.developer(t, "alice")
	for _, tc := range []struct{ name, code string }{
		{"alice", keyledger.EConflict},
		{"ALICE", keyledger.EConflict},
		{"carol ", keyledger.EInvalid},
		{bob.UserID, keyledger.EInvalid},
	} {
		_, err := l.svc.RegisterUser(ctx, l.admin, "", commands.RegisterUser{Name: tc.name, Roles: []string{"developer"}})
		wantCode(t, err, tc.code)
	}
	for _, owner := range []string{"alice", "nobody-here", "BOB", "bob*", "bob.x"} {
		_, err := l.svc.IssueKey(ctx, bob, "", commands.IssueKey{Owner: owner, Name: "x"})
		wantCode(t, err, keyledger.EForbidden)
		_, err = l.svc.Keys(ctx, bob, keyledger.KeyFilter{Owner: owner})
		wantCode(t, err, keyledger.EForbidden)
	}
	if _, err := l.svc.IssueKey(ctx, bob, "", commands.IssueKey{Owner: bob.UserID, Name: "mine"}); err != nil {
		t.Fatal(err)
	}
	byName, err := l.svc.IssueKey(ctx, bob, "", commands.IssueKey{Owner: "bob", Name: "by-name"})
	if err != nil {
		t.Fatalf("bob issuing for owner \"bob\": %v", err)
	}
	if byName.Owner != bob.UserID {
		t.Fatalf("issued for owner %q, want bob's ID %s", byName.Owner, bob.UserID)
	}
	page, err := l.svc.Keys(ctx, bob, keyledger.KeyFilter{Owner: "bob"})
	if err != nil {
		t.Fatalf("bob listing owner \"bob\": %v", err)
	}
	if len(page.Keys) != 3 {
		t.Fatalf("bob's list by name holds %d keys, want 3 (the helper issues one)", len(page.Keys))
	}
	del, err := l.svc.DeleteKeys(ctx, bob, "", commands.DeleteKeys{Owner: "bob", All: true})
	if err != nil {
		t.Fatalf("bob deleting all of owner \"bob\": %v", err)
	}
	if len(del.Deleted) != 3 {
		t.Fatalf("deleted %v, want bob's 3 keys", del.Deleted)
	}
}

// The reply to an issue is built from the decided event, not read back; it
// must be the key exactly as every later query shows it.
func TestIssueReplyIsTheKeyAsStored(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{InactivityExpiry: ptr("P30D"), MaxExpiry: ptr("P365D")}); err != nil {
		t.Fatal(err)
	}
	dev, _ := l.developer(t, "dev")
	exp := time.Now().Add(90*24*time.Hour + 123456789*time.Nanosecond) // sub-millisecond digits the store drops
	for _, c := range []commands.IssueKey{
		{Name: "bare"},
		{Name: "full", Description: "d", ExpiresAt: &exp, Scopes: []string{"read", "write"},
			AllowedCIDRs: []string{"10.0.0.0/8", "192.168.1.7"}, RateLimit: &keyledger.RateLimit{Limit: 5, Per: "PT1M"}},
		{Name: "in", ExpiresIn: "P7D"},
		{Name: "other", Owner: dev.UserID},
	} {
		actor := dev
		if c.Owner != "" {
			actor = l.admin
		}
		k, err := l.svc.IssueKey(ctx, actor, "", c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if k.Token == "" {
			t.Fatalf("%s: the reply holds no token", c.Name)
		}
		k.Token = ""
		stored, err := l.svc.Key(ctx, l.admin, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(k)
		want, _ := json.Marshal(stored)
		if string(got) != string(want) {
			t.Errorf("%s: the reply differs from the stored key\nreply:  %s\nstored: %s", c.Name, got, want)
		}
	}
}

// Owner commands reply before the projections hold them, but only so far:
// once the projections are MaxLag events behind, a command waits for them,
// so writes cannot outrun reads without bound. What it appended is stored
// either way.
func TestCommandsWaitOnceTheProjectionsAreMaxLagBehind(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	if err := l.Projector.WaitFor(ctx, l.lastSeq(t)); err != nil {
		t.Fatal(err)
	}
	applied := l.Projector.Applied()
	l.pause()
	const maxLag = 5
	l.svc.MaxLag = maxLag
	replied := 0
	for i := range 2 * maxLag {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := l.svc.IssueKey(cctx, dev, "", commands.IssueKey{Name: fmt.Sprint("k", i)})
		cancel()
		if err != nil {
			if keyledger.ErrorCode(err) != keyledger.EUnavailable {
				t.Fatalf("issue %d: %v; want unavailable while the projections lag", i, err)
			}
			break
		}
		replied++
	}
	if want := int(l.lastSeq(t)-applied) - 1; replied != maxLag || want != maxLag {
		t.Fatalf("%d issues replied with the projections paused (%d stored beyond them); want %d", replied, want+1, maxLag)
	}
}

// An Idempotency-Key replays only the command it came with. Reused for
// another command on the same owner (a runbook using a ticket number as
// the key), it runs that command: before, the second revoke answered
// "revoked" from the first and stored nothing, and the key kept working.
func TestAnIdempotencyKeyReusedForAnotherCommandRunsIt(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	issue, revoke := endpointNamed(t, "cmd.key.issue"), endpointNamed(t, "cmd.key.revoke")
	call := func(ep commands.Endpoint, key, body string) any {
		t.Helper()
		res, err := l.svc.Call(ctx, ep, "Bearer "+l.token, key, []byte(body))
		if err != nil {
			t.Fatalf("%s %s: %v", ep.Name, body, err)
		}
		return res
	}
	a := call(issue, "", `{"owner":"`+dev.UserID+`","name":"a"}`).(*keyledger.Key)
	b := call(issue, "", `{"owner":"`+dev.UserID+`","name":"b"}`).(*keyledger.Key)
	call(revoke, "INC-123", `{"key_ids":["`+a.ID+`"],"reason":"INC-123"}`)
	call(revoke, "INC-123", `{"key_ids":["`+b.ID+`"],"reason":"INC-123"}`)
	// The same command again, its body encoded differently, is a replay.
	call(revoke, "INC-123", `{ "reason": "INC-123", "key_ids": ["`+b.ID+`"] }`)
	for _, id := range []string{a.ID, b.ID} {
		k, err := l.svc.Key(ctx, l.admin, id)
		if err != nil || k.Status != keyledger.StatusRevoked {
			t.Fatalf("key %s after a revoke under a reused Idempotency-Key: %+v %v; want revoked", id, k, err)
		}
	}
	revokes := 0
	for _, s := range l.changesSince(t, 0) {
		if strings.HasSuffix(s, ".revoked") {
			revokes++
		}
	}
	if revokes != 2 {
		t.Fatalf("%d revocations stored; want 2 (the replay stores nothing)", revokes)
	}
	c1 := call(issue, "ISSUE-1", `{"owner":"`+dev.UserID+`","name":"x1"}`).(*keyledger.Key)
	c2 := call(issue, "ISSUE-1", `{"owner":"`+dev.UserID+`","name":"x2"}`).(*keyledger.Key)
	if c1.ID == c2.ID || c2.Name != "x2" || c2.Replayed {
		t.Fatalf("a second issue with the key of the first but another name: %+v", c2)
	}
}

// A page size out of range is refused by name, not quietly clamped: a caller
// asking for 100,000 keys must learn that pages stop at 1,000.
func TestKeyListLimitOutOfRangeIsInvalid(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	for _, limit := range []int{-1, 1001, 100000} {
		_, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Limit: limit})
		wantCode(t, err, keyledger.EInvalid)
	}
	for _, limit := range []int{0, 1, 1000} {
		if _, err := l.svc.Keys(ctx, l.admin, keyledger.KeyFilter{Limit: limit}); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
	}
}

// TestARefusalIsCheckedAgainstTheStream: a refusal appends nothing, so no
// expected sequence checks the state it was decided on. Instance b, whose
// follower is stopped, holds a key as revoked; a regenerates it. b's revoke
// of it must see that and revoke, not answer "already revoked"; and b's
// regenerate of a key a revoked must not answer "active".
// (b knows both keys: a key it has never seen it looks up in its stopped
// projections, which would wait for ever.)
func TestARefusalIsCheckedAgainstTheStream(t *testing.T) {
	a := newLedger(t)
	ctx := context.Background()
	dev, _ := a.developer(t, "dev")
	k, err := a.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "rotating"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.svc.RevokeKeys(ctx, a.admin, "", commands.RevokeKeys{KeyIDs: []string{k.ID}}); err != nil || len(res.Revoked) != 1 {
		t.Fatalf("revoke on a: %+v %v", res, err)
	}
	other, err := a.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	b := a.join(t)
	if got, err := b.svc.Key(ctx, a.admin, k.ID); err != nil || got.Status != keyledger.StatusRevoked {
		t.Fatalf("b: %+v %v", got, err)
	}
	b.pause()
	if _, err := a.svc.RegenerateKey(ctx, a.admin, "", commands.RegenerateKey{KeyID: k.ID}); err != nil {
		t.Fatal(err)
	}
	res, err := b.svc.RevokeKeys(ctx, a.admin, "", commands.RevokeKeys{KeyIDs: []string{k.ID}, Reason: "from b"})
	if err != nil || len(res.Revoked) != 1 {
		t.Fatalf("b's revoke of the key a regenerated: %+v %v", res, err)
	}
	if _, err := a.svc.RevokeKeys(ctx, a.admin, "", commands.RevokeKeys{KeyIDs: []string{other.ID}}); err != nil {
		t.Fatal(err)
	}
	// The regenerate is stored; its answer then reads the key from b's
	// projections, which are stopped: it times out instead.
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := b.svc.RegenerateKey(tctx, a.admin, "", commands.RegenerateKey{KeyID: other.ID}); keyledger.ErrorCode(err) == keyledger.EConflict {
		t.Fatalf("b's regenerate of a key a revoked: %v", err)
	}
	recs, _, err := a.store.Load(ctx, "keyledger.events.user."+dev.UserID+".regenerated")
	if err != nil || len(recs) != 2 {
		t.Fatalf("the stream holds %d KeyRegenerated (%v), want 2", len(recs), err)
	}
}

// A read that waits for this instance's projections, which are stuck (a
// full disk under ledger.db), must not say "stored": before, a query and
// the command after it answered "stored, but projections have not caught
// up", and an operator went looking for keys that were never issued.
func TestWaitingForStuckProjectionsSaysNothingWasChanged(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	dev, _ := l.developer(t, "dev")
	if err := l.Projector.WaitFor(ctx, l.lastSeq(t)); err != nil {
		t.Fatal(err)
	}
	l.pause()
	l.svc.MaxLag = 1000
	if _, err := l.svc.IssueKey(ctx, dev, "", commands.IssueKey{Name: "stored"}); err != nil {
		t.Fatal(err) // stored; the reply does not wait for the projections
	}
	before := l.lastSeq(t)
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := l.svc.Keys(cctx, dev, keyledger.KeyFilter{})
	if keyledger.ErrorCode(err) != keyledger.EUnavailable || !strings.Contains(err.Error(), "nothing was changed") || strings.Contains(err.Error(), "stored") {
		t.Fatalf("a query while the projections are stuck: %v; want unavailable saying nothing was changed", err)
	}
	if after := l.lastSeq(t); after != before {
		t.Fatalf("the stream moved from %d to %d", before, after)
	}
}
