package projections_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/nats-io/nats.go/jetstream"
)

// haltFixture is a real stream and ledger.db, with raw publishing so a test
// can store what keyledger itself never would.
type haltFixture struct {
	js    jetstream.JetStream
	store *events.Store
	db    *projections.DB
}

func newHaltFixture(t *testing.T, usage bool) *haltFixture {
	t.Helper()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	store := events.NewStore(js)
	if usage {
		store = events.NewUsageStore(js)
	}
	if err := store.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &haltFixture{js: js, store: store, db: MustOpenDB(t)}
}

// raw stores data on subject as it is and returns its sequence.
func (f *haltFixture) raw(t *testing.T, subject string, data []byte) uint64 {
	t.Helper()
	ack, err := f.js.Publish(context.Background(), subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// event stores e on the subject it belongs on.
func (f *haltFixture) event(t *testing.T, e events.Event) uint64 {
	t.Helper()
	return f.eventOn(t, events.Subject(e), e)
}

func (f *haltFixture) eventOn(t *testing.T, subject string, e events.Event) uint64 {
	t.Helper()
	data, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return f.raw(t, subject, data)
}

// run starts a projector and stops it when the test ends (or stop is
// called); Run must never fail on a bad event.
func (f *haltFixture) run(t *testing.T, configure func(*projections.Projector)) (*projections.Projector, func()) {
	t.Helper()
	p := projections.NewProjector(f.db, f.store)
	p.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if configure != nil {
		configure(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projector Run returned %v; a bad event must halt it, not end it", err)
		}
	}
	t.Cleanup(stop)
	return p, stop
}

// waitHalt waits until p halts and returns why.
func waitHalt(t *testing.T, p *projections.Projector) *projections.Halt {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var h *projections.Halt
		if errors.As(p.Health(), &h) {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("projector did not halt; applied %d", p.Applied())
	return nil
}

func waitApplied(t *testing.T, p *projections.Projector, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := p.WaitFor(ctx, seq)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("projection did not reach %d (at %d): %v", seq, p.Applied(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func keyStatus(t *testing.T, db *projections.DB, keyID string) string {
	t.Helper()
	var st string
	if err := db.SQL().QueryRow(`SELECT status FROM keys WHERE key_id = ?`, keyID).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

const (
	userU = "01J0000000000000000000000U"
	keyK  = "01J0000000000000000000000K"
)

func TestJunkEventHaltsProjectionUntilAnAdminSkipsIt(t *testing.T) {
	f := newHaltFixture(t, false)
	now := time.Now().UTC()
	m := events.Meta{At: now, Actor: "admin"}
	f.event(t, &events.UserRegistered{Meta: m, UserID: userU, Name: "u", Kind: "person"})
	f.event(t, &events.KeyIssued{Meta: m, KeyID: keyK, Owner: userU, Name: "k", SecretHash: strings.Repeat("0", 64)})
	junk := f.raw(t, "keyledger.events.user."+userU+"."+keyK+".revoked", []byte(`{"type":"KeyRevoked","v":1,`))
	revoke := f.event(t, &events.KeyRevoked{Meta: m, KeyID: keyK, Owner: userU})

	p, _ := f.run(t, nil)
	h := waitHalt(t, p)
	if h.Seq != junk || h.Projection != "ledger" || !strings.Contains(h.Reason, "cannot decode") ||
		!strings.Contains(h.Error(), "skip-event 3") {
		t.Fatalf("halt %+v (%v); want ledger at %d, undecodable, with the way past it", h, h, junk)
	}
	if p.Applied() != junk-1 {
		t.Fatalf("applied %d; want everything before the junk (%d)", p.Applied(), junk-1)
	}
	// Waiters learn at once; nothing after the junk is applied.
	start := time.Now()
	if err := p.WaitFor(context.Background(), revoke); !errors.As(err, new(*projections.Halt)) || time.Since(start) > time.Second {
		t.Fatalf("WaitFor on a halted projection: %v after %v", err, time.Since(start))
	}
	if st := keyStatus(t, f.db, keyK); st != "active" {
		t.Fatalf("key %s while halted before its revoke; want active", st)
	}

	// A skip of another sequence changes nothing.
	f.event(t, &events.EventSkipped{Meta: m, Seq: revoke, Reason: "wrong one"})
	time.Sleep(200 * time.Millisecond)
	if seq, _ := p.Halted(); seq != junk {
		t.Fatalf("halted at %d after a skip of another event; want %d", seq, junk)
	}

	// The skip of the junk lets it go on, in order, past the junk only.
	skip := f.event(t, &events.EventSkipped{Meta: m, Seq: junk, Reason: "junk from a test"})
	waitApplied(t, p, skip)
	if err := p.Health(); err != nil {
		t.Fatalf("health after the skip: %v", err)
	}
	if st := keyStatus(t, f.db, keyK); st != "revoked" {
		t.Fatalf("key %s after the skip; the revoke after the junk must apply", st)
	}
	if pos, _ := f.db.Position(context.Background(), "ledger"); pos != skip {
		t.Fatalf("position %d; want %d", pos, skip)
	}
}

func TestKeyRenamedForAMissingKeyHaltsAgainAfterRestartNotCrash(t *testing.T) {
	f := newHaltFixture(t, false)
	m := events.Meta{At: time.Now().UTC(), Actor: "admin"}
	f.event(t, &events.UserRegistered{Meta: m, UserID: userU, Name: "u", Kind: "person"})
	bad := f.event(t, &events.KeyRenamed{Meta: m, KeyID: keyK, Owner: userU, Name: "ghost"})

	p, stop := f.run(t, nil)
	if h := waitHalt(t, p); h.Seq != bad || !strings.Contains(h.Reason, "updated 0 rows") {
		t.Fatalf("halt %v; want at %d for the missing row", h, bad)
	}
	stop()

	// Restarted, it halts at the same event again, and keeps running.
	p, stop = f.run(t, nil)
	if h := waitHalt(t, p); h.Seq != bad {
		t.Fatalf("after restart: halt %v", h)
	}
	stop()

	// A skip stored while it was down is honoured at the next start.
	skip := f.event(t, &events.EventSkipped{Meta: m, Seq: bad, Reason: "renamed a key that never existed"})
	p, _ = f.run(t, nil)
	waitApplied(t, p, skip)
	if err := p.Health(); err != nil {
		t.Fatal(err)
	}
}

func TestEventOnAnotherOwnersSubjectHalts(t *testing.T) {
	f := newHaltFixture(t, false)
	m := events.Meta{At: time.Now().UTC(), Actor: "admin"}
	f.event(t, &events.UserRegistered{Meta: m, UserID: userU, Name: "u", Kind: "person"})
	f.event(t, &events.KeyIssued{Meta: m, KeyID: keyK, Owner: userU, Name: "k", SecretHash: strings.Repeat("0", 64)})
	// Stored under another owner, this revoke would dodge U's expected
	// sequence; the projection must not take it.
	bad := f.eventOn(t, "keyledger.events.user.01J0000000000000000000000V."+keyK+".revoked",
		&events.KeyRevoked{Meta: m, KeyID: keyK, Owner: userU})
	p, _ := f.run(t, nil)
	if h := waitHalt(t, p); h.Seq != bad || !strings.Contains(h.Reason, "belongs on keyledger.events.user."+userU) {
		t.Fatalf("halt %v", h)
	}
	if st := keyStatus(t, f.db, keyK); st != "active" {
		t.Fatalf("key %s; the misplaced revoke must not apply", st)
	}
}

func TestUsageJunkIsSkippedCountedAndDoesNotBlock(t *testing.T) {
	f := newHaltFixture(t, true)
	m := events.Meta{At: time.Now().UTC(), Actor: "system"}
	minute := time.Now().UTC().Truncate(time.Minute)
	f.raw(t, "keyledger.usage."+keyK, []byte("not json at all"))
	f.eventOn(t, "keyledger.usage."+keyK, &events.KeyIssued{Meta: m, KeyID: keyK, Owner: userU, Name: "smuggled"}) // not usage
	f.raw(t, "keyledger.usage.a.b", []byte(`{"type":"UsageRecorded","v":1,"key_id":"X"}`))
	good := f.event(t, &events.UsageRecorded{Meta: m, KeyID: keyK, Owner: userU, Minute: minute, Valid: 5, Instance: "i"})

	p, _ := f.run(t, func(p *projections.Projector) {
		p.Name, p.SkipUnreadable = "usage", true
		p.Accept = func(e events.Event) bool { _, ok := e.(*events.UsageRecorded); return ok }
	})
	waitApplied(t, p, good)
	if err := p.Health(); err != nil {
		t.Fatalf("usage junk blocked the projection: %v", err)
	}
	if n := p.Skipped(); n != 3 {
		t.Fatalf("skipped %d records; want 3", n)
	}
	var valid int
	if err := f.db.SQL().QueryRow(`SELECT valid FROM usage WHERE key_id = ?`, keyK).Scan(&valid); err != nil || valid != 5 {
		t.Fatalf("usage row: %d %v", valid, err)
	}
	var n int
	f.db.SQL().QueryRow(`SELECT COUNT(*) FROM keys`).Scan(&n)
	if n != 0 {
		t.Fatalf("a KeyIssued on the usage stream made %d key rows", n)
	}
}

func TestPointInTimeReplayDoesNotWaitForASkip(t *testing.T) {
	f := newHaltFixture(t, false)
	m := events.Meta{At: time.Now().UTC(), Actor: "admin"}
	f.event(t, &events.UserRegistered{Meta: m, UserID: userU, Name: "u", Kind: "person"})
	junk := f.raw(t, "keyledger.events.user."+userU+"._.registered", []byte("junk"))
	until := f.event(t, &events.UserRolesChanged{Meta: m, UserID: userU, Roles: []string{"auditor"}})

	replay := func() (*projections.Projector, error) {
		p := projections.NewProjector(MustOpenDB(t), f.store)
		p.Logger, p.Until = slog.New(slog.NewTextHandler(io.Discard, nil)), until
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := p.Run(ctx)
		if ctx.Err() != nil {
			t.Fatal("a point-in-time replay waited for a skip")
		}
		return p, err
	}
	// No skip stored: the replay ends with the halt, at once.
	var h *projections.Halt
	if _, err := replay(); !errors.As(err, &h) || h.Seq != junk {
		t.Fatalf("replay over an unskipped event: %v", err)
	}
	// A skip stored after the view's sequence still counts: the replay
	// passes over the event and stops at Until.
	f.event(t, &events.EventSkipped{Meta: m, Seq: junk, Reason: "junk"})
	p, err := replay()
	if err != nil || p.Applied() != until {
		t.Fatalf("replay with a later skip: %v, applied %d, want %d", err, p.Applied(), until)
	}
}
