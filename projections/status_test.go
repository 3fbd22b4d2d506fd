package projections_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/verifier"
	"github.com/oklog/ulid/v2"
)

// statusLedger is a real event stream and usage stream, projected into a real
// SQLite file, with every stored event kept for the in-memory readers.
type statusLedger struct {
	t             *testing.T
	db            *projections.DB
	store, usage  *events.Store
	recorded      []events.Recorded // ledger and usage events, in the order appended
	ledgerN, useN uint64
	useProjected  uint64
}

func newStatusLedger(t *testing.T) *statusLedger {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	l := &statusLedger{t: t, db: MustOpenDB(t), store: events.NewStore(js), usage: events.NewUsageStore(js)}
	for _, s := range []*events.Store{l.store, l.usage} {
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// append stores evs (usage events in the usage stream) and projects them.
func (l *statusLedger) append(evs ...events.Event) {
	l.t.Helper()
	ctx := context.Background()
	for _, e := range evs {
		if u, ok := e.(*events.UsageRecorded); ok {
			if err := l.usage.Publish(ctx, []events.Event{u}, []string{u.KeyID + u.Minute.String()}); err != nil {
				l.t.Fatal(err)
			}
			l.useN++
			l.recorded = append(l.recorded, events.Recorded{Seq: l.useN, Event: e})
			continue
		}
		seq, err := l.store.Append(ctx, events.SubjectAll, l.ledgerN, "", []events.Event{e})
		if err != nil {
			l.t.Fatal(err)
		}
		l.ledgerN = seq
		l.recorded = append(l.recorded, events.Recorded{Seq: seq, Event: e})
	}
	project(l.t, l.db, l.store, l.ledgerN)
	if l.useN > l.useProjected {
		p := projections.NewProjector(l.db, l.usage)
		p.Name = "usage"
		runProjector(l.t, p, l.useN)
		l.useProjected = l.useN
	}
}

// runProjector runs p until it has applied seq.
func runProjector(t *testing.T, p *projections.Projector, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := p.WaitFor(wctx, seq); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// runningIndex is the index of a server that has been up all along: every
// event applied as it was stored.
func (l *statusLedger) runningIndex(now time.Time) *verifier.Index {
	x := verifier.NewIndex()
	x.Now = func() time.Time { return now }
	for _, r := range l.recorded {
		x.Apply(r)
	}
	return x
}

// reloadedIndex is the index of a server that restarted: loaded from SQLite.
func (l *statusLedger) reloadedIndex(now time.Time) *verifier.Index {
	l.t.Helper()
	x := verifier.NewIndex()
	x.Now = func() time.Time { return now }
	s, err := l.db.Settings(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	x.SetPolicy(s)
	if _, err := l.db.Credentials(context.Background(), func(c *keyledger.Credential) error { x.Put(c); return nil }); err != nil {
		l.t.Fatal(err)
	}
	return x
}

// ownerState is the command side's aggregate of the owner.
func (l *statusLedger) ownerState(id string) *commands.Owner {
	o := commands.NewOwner(id)
	for _, r := range l.recorded {
		if r.Event.OwnerID() == id {
			if _, usage := r.Event.(*events.UsageRecorded); !usage {
				o.Apply(r.Event)
			}
		}
	}
	return o
}

// TestEveryReaderJudgesKeysByOneRule holds the running index, the index
// reloaded from SQLite after a restart, the projections in Go and in SQL,
// and the command state to the same answer: across issue, use, revoke,
// regenerate, a sub-second expiry, and policy changes both ways.
func TestEveryReaderJudgesKeysByOneRule(t *testing.T) {
	l := newStatusLedger(t)
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) events.Meta { return events.Meta{At: t0.Add(d), Actor: "A"} }
	ptr := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	tokens := map[string]string{}
	issue := func(name string, d time.Duration, exp *time.Time) (string, *events.KeyIssued) {
		id := ulid.Make().String()
		var secret [32]byte
		copy(secret[:], name)
		tok, hash := keyledger.NewToken(id, secret)
		tokens[id] = tok
		return id, &events.KeyIssued{Meta: at(d), KeyID: id, Owner: "U", Name: name, SecretHash: hash, ExpiresAt: exp}
	}
	a, issueA := issue("a", 0, ptr(2*time.Hour))                                            // used at 40m: idle end 100m
	b, issueB := issue("b", 0, nil)                                                         // revoked, regenerated at 50m: idle end 110m
	c, issueC := issue("c", 500*time.Millisecond, ptr(90*time.Minute+700*time.Millisecond)) // used at 45m; ends at 90m, to the second
	var secret [32]byte
	secret[0] = 'B'
	regenTok, regenHash := keyledger.NewToken(b, secret)
	policy := keyledger.DefaultSettings()
	policy.Enabled, policy.InactivityExpiry = true, "PT1H"
	used := func(id string, d time.Duration) *events.UsageRecorded {
		return &events.UsageRecorded{Meta: at(d), KeyID: id, Owner: "U", Minute: t0.Add(d), Valid: 1, LastUsedAt: ptr(d), Instance: "i"}
	}
	l.append(
		&events.UserRegistered{Meta: at(0), UserID: "U", Name: "u", Kind: "person", Roles: []string{"developer"}},
		issueA, issueB, issueC,
		&events.KeyRevoked{Meta: at(10 * time.Minute), KeyID: b, Owner: "U"},
		used(a, 40*time.Minute), used(c, 45*time.Minute),
		&events.KeyRegenerated{Meta: at(50 * time.Minute), KeyID: b, Owner: "U", SecretHash: regenHash},
		&events.SettingsChanged{Meta: at(55 * time.Minute), Settings: policy},
	)
	tokens[b] = regenTok

	type want struct {
		status string
		end    *time.Time // effective expiry
		idle   bool       // expired by inactivity, which the command state does not judge
	}
	check := func(now time.Duration, wants map[string]want) {
		t.Helper()
		when := t0.Add(now)
		l.db.Now = func() time.Time { return when }
		running, reloaded := l.runningIndex(when), l.reloadedIndex(when)
		owner := l.ownerState("U")
		ctx := context.Background()
		for id, w := range wants {
			name := map[string]string{a: "a", b: "b", c: "c"}[id]
			for reader, x := range map[string]*verifier.Index{"running index": running, "reloaded index": reloaded} {
				res := x.Verify(tokens[id], "", "")
				got := res.Code
				if res.Valid {
					got = keyledger.StatusActive
				}
				if got != w.status {
					t.Errorf("at %v, key %s: %s says %s, want %s", now, name, reader, got, w.status)
				}
			}
			k, err := l.db.Key(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if k.Status != w.status || (k.EffectiveExpiresAt == nil) != (w.end == nil) ||
				(w.end != nil && !k.EffectiveExpiresAt.Equal(*w.end)) {
				t.Errorf("at %v, key %s: projection says %s until %v, want %s until %v", now, name, k.Status, k.EffectiveExpiresAt, w.status, w.end)
			}
			for _, status := range []string{keyledger.StatusActive, keyledger.StatusExpired} {
				page, err := l.db.Keys(ctx, keyledger.KeyFilter{Status: status})
				if err != nil {
					t.Fatal(err)
				}
				listed := slices.ContainsFunc(page.Keys, func(k *keyledger.Key) bool { return k.ID == id })
				if listed != (status == w.status) {
					t.Errorf("at %v, key %s: SQL filter status=%s lists it: %t, want %t", now, name, status, listed, status == w.status)
				}
			}
			if got := owner.Keys[id].StatusAt(when); !w.idle && got != w.status {
				t.Errorf("at %v, key %s: command state says %s, want %s", now, name, got, w.status)
			}
		}
	}
	active := func(end *time.Time) want { return want{status: "active", end: end} }
	check(61*time.Minute, map[string]want{a: active(ptr(100 * time.Minute)), b: active(ptr(110 * time.Minute)), c: active(ptr(90 * time.Minute))})
	check(90*time.Minute-time.Second, map[string]want{c: active(ptr(90 * time.Minute))})
	check(90*time.Minute, map[string]want{a: active(ptr(100 * time.Minute)), c: {status: "expired", end: ptr(90 * time.Minute)}})
	check(101*time.Minute, map[string]want{a: {"expired", ptr(100 * time.Minute), true}, b: active(ptr(110 * time.Minute))})
	check(111*time.Minute, map[string]want{b: {"expired", ptr(110 * time.Minute), true}})

	// Turning the inactivity limit off reaches existing keys at once; the
	// expiry chosen at issue stays.
	policy.InactivityExpiry = keyledger.None
	l.append(&events.SettingsChanged{Meta: at(112 * time.Minute), Settings: policy})
	check(115*time.Minute, map[string]want{a: active(ptr(2 * time.Hour)), b: active(nil), c: {status: "expired", end: ptr(90 * time.Minute)}})
	check(2*time.Hour, map[string]want{a: {status: "expired", end: ptr(2 * time.Hour)}})
}
