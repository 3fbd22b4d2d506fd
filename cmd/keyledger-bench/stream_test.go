package main

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// streamTarget is a target without a keyledger process: a real NATS server
// whose KEYLEDGER stream is created as keyledger creates it.
func streamTarget(t *testing.T) (*target, *events.Store) {
	t.Helper()
	ns := natstest.RunServer(t)
	nc, js := natstest.Connect(t, ns)
	store := events.NewStore(js)
	if err := store.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &target{name: "test", url: ns.ClientURL(), svc: nc, replicas: 1, dataDir: dir, bareURL: ns.ClientURL(), bareDir: dir}, store
}

func TestBareCeilingAppendsWithExpectedSequences(t *testing.T) {
	tg, store := streamTarget(t)
	b := NewBench()
	b.Clients, b.Warmup, b.Duration = 4, 50*time.Millisecond, 300*time.Millisecond
	r, err := b.bareCeiling(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	// A wrong expected sequence is an error, so every append counted must
	// have carried the right one.
	if r.ok == 0 || r.errors != 0 {
		t.Fatalf("ok %d, errors %d: %v", r.ok, r.errors, r.firstErr)
	}
	if msgs, subjects := bareState(t, tg, store); msgs < uint64(r.ok) || subjects != 4 {
		t.Fatalf("%d messages on %d subjects for %d appends by 4 clients", msgs, subjects, r.ok)
	}
	if p, _ := eventSized(); len(p) < 300 || len(p) > 500 {
		t.Fatalf("payload of %d bytes is not event-sized", len(p))
	}
}

func TestRelayAppendsOncePerRequest(t *testing.T) {
	tg, store := streamTarget(t)
	b := NewBench()
	b.Clients, b.Warmup, b.Duration = 4, 50*time.Millisecond, 300*time.Millisecond
	r, err := b.relayCeiling(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	// The relay answers an append's error as an error, so a reply counted
	// is an append made with the right expected sequence.
	if r.ok == 0 || r.errors != 0 {
		t.Fatalf("ok %d, errors %d: %v", r.ok, r.errors, r.firstErr)
	}
	// Every counted reply stands for an append in the stream (the warm-up's
	// requests appended too), on one subject per client.
	if msgs, subjects := bareState(t, tg, store); msgs < uint64(r.ok) || subjects != 4 {
		t.Fatalf("%d messages on %d subjects for %d relayed requests by 4 clients", msgs, subjects, r.ok)
	}
}

// bareState is the bare ceiling's stream's message and subject counts; it
// fails the test if anything reached keyledger's own stream.
func bareState(t *testing.T, tg *target, store *events.Store) (msgs uint64, subjects uint64) {
	t.Helper()
	js, _ := jetstream.New(tg.svc)
	s, err := js.Stream(context.Background(), bareStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := store.LastSeq(context.Background()); last != 0 {
		t.Fatalf("%d messages reached keyledger's own stream", last)
	}
	return info.State.Msgs, info.State.NumSubjects
}

func TestSeededOwnersAreOrdinaryEvents(t *testing.T) {
	tg, store := streamTarget(t)
	ctx := context.Background()
	bound, err := openStore(ctx, tg.svc)
	if err != nil {
		t.Fatal(err)
	}
	var keys []seededKey
	// 150 owners of 10 keys: more than one atomic batch.
	owners, last, err := seedOwners(ctx, bound, 150, 10, func(k seededKey) { keys = append(keys, k) })
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 150 || len(keys) != 1500 || last != 150*11 {
		t.Fatalf("%d owners, %d keys, last seq %d", len(owners), len(keys), last)
	}
	evs, seq, err := store.Load(ctx, events.OwnerSubjects(owners[149]))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 11 || seq != last {
		t.Fatalf("last owner has %d events, last seq %d", len(evs), seq)
	}
	if _, ok := evs[0].Event.(*events.UserRegistered); !ok {
		t.Fatalf("first event %T", evs[0].Event)
	}
	issued, ok := evs[10].Event.(*events.KeyIssued)
	k := keys[len(keys)-1]
	if !ok || issued.KeyID != k.keyID || issued.SecretHash != k.secretHash || issued.Owner != owners[149] {
		t.Fatalf("last event %+v; kept %+v", evs[10].Event, k)
	}
	id, secret, ok := keyledger.ParseToken(k.token)
	if !ok || id != k.keyID || !keyledger.SecretMatches(secret, issued.SecretHash) {
		t.Fatal("the kept token does not match the stored hash")
	}
	if _, _, err := seedOwners(ctx, bound, 1, events.MaxBatch, nil); err == nil {
		t.Fatal("an owner too big for one batch was accepted")
	}
}
