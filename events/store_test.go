package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStoreConformance runs one suite against every store configuration.
func TestStoreConformance(t *testing.T) {
	t.Run("R1", func(t *testing.T) {
		_, js := natstest.Connect(t, natstest.RunServer(t))
		testStore(t, js, 1, false)
		t.Run("direct_reads", func(t *testing.T) { testStore(t, js, 1, true) })
	})
	t.Run("R3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster test")
		}
		nodes := natstest.RunCluster(t, 3)
		_, js := natstest.Connect(t, nodes[1])
		testStore(t, js, 3, false)
		t.Run("direct_reads", func(t *testing.T) { testStore(t, js, 3, true) })
	})
}

func openStore(t *testing.T, js jetstream.JetStream, replicas int, name string) *events.Store {
	t.Helper()
	s := events.NewStore(js)
	s.Stream, s.Replicas = name, replicas
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func revoked(owner, key string) *events.KeyRevoked {
	return &events.KeyRevoked{Meta: events.Meta{At: time.Now().UTC(), Actor: "admin"}, KeyID: key, Owner: owner, Reason: "test"}
}

// testStore runs the store's conformance suite; with direct, its followers
// read with batched direct gets, as gateways do (Store.DirectReads).
func testStore(t *testing.T, js jetstream.JetStream, replicas int, direct bool) {
	// Each sub-test owns a stream; streams share subjects, so they run one
	// after another, each deleted when done. nats-server removes an
	// account's streams directory when its last stream goes, racing the next
	// create's mkdir; a placeholder stream keeps the directory in place.
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "PLACEHOLDER", Subjects: []string{"placeholder"}, Replicas: replicas}); err != nil {
		t.Fatal(err)
	}
	n := 0
	store := func(t *testing.T) *events.Store {
		n++
		s := openStore(t, js, replicas, fmt.Sprintf("KL%d", n))
		s.DirectReads = direct
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), s.Stream) })
		return s
	}
	ctx := context.Background()

	t.Run("load_returns_only_the_owners_events_in_order", func(t *testing.T) {
		s := store(t)
		if _, seq, err := s.Load(ctx, events.OwnerSubjects("alice")); err != nil || seq != 0 {
			t.Fatalf("empty aggregate: seq %d err %v", seq, err)
		}
		var exp uint64
		for i := range 3 {
			seq, err := s.Append(ctx, events.OwnerSubjects("alice"), exp, "", []events.Event{revoked("alice", fmt.Sprintf("K%d", i))})
			if err != nil {
				t.Fatal(err)
			}
			exp = seq
			if _, err := s.Append(ctx, events.OwnerSubjects("bob"), 0, "", []events.Event{revoked("bob", fmt.Sprintf("B%d", i))}); i == 0 && err != nil {
				t.Fatal(err)
			}
		}
		got, last, err := s.Load(ctx, events.OwnerSubjects("alice"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || last != exp {
			t.Fatalf("got %d events, last %d; want 3, last %d", len(got), last, exp)
		}
		for i, r := range got {
			if k := r.Event.KeyRef(); k != fmt.Sprintf("K%d", i) {
				t.Fatalf("event %d is for key %s", i, k)
			}
		}
	})

	t.Run("latest_is_the_newest_on_the_subject_and_nothing_already_held", func(t *testing.T) {
		s := store(t)
		subject := events.Subject(revoked("alice", "K1"))
		if r, err := s.Latest(ctx, subject, 0); err != nil || r != nil {
			t.Fatalf("empty stream: %v, %v", r, err)
		}
		first, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", []events.Event{revoked("alice", "K1")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, events.OwnerSubjects("bob"), 0, "", []events.Event{revoked("bob", "K1")}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Latest(ctx, subject, 0)
		if err != nil || r == nil || r.Seq != first || r.Event.KeyRef() != "K1" || r.Event.Base().Actor != "admin" {
			t.Fatalf("latest: %+v, %v; want seq %d, decoded", r, err, first)
		}
		if r, err := s.Latest(ctx, subject, first); err != nil || r != nil {
			t.Fatalf("latest after %d, which the caller holds: %+v, %v; want nil", first, r, err)
		}
		if r, err := s.Latest(ctx, subject, first-1); err != nil || r == nil || r.Seq != first {
			t.Fatalf("latest after %d: %+v, %v; want seq %d", first-1, r, err, first)
		}
	})

	t.Run("concurrent_appends_exactly_one_wins", func(t *testing.T) {
		s := store(t)
		const writers = 10
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				_, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", []events.Event{revoked("alice", fmt.Sprintf("K%d", i))})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, events.ErrConflict):
				t.Fatalf("loser got %v, want ErrConflict", err)
			}
		}
		got, _, _ := s.Load(ctx, events.OwnerSubjects("alice"))
		if won != 1 || len(got) != 1 {
			t.Fatalf("%d appends won, %d stored; want exactly 1", won, len(got))
		}
	})

	t.Run("retried_message_id_is_not_applied_twice", func(t *testing.T) {
		s := store(t)
		seq, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "cmd-1", []events.Event{revoked("alice", "K1")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Append(ctx, events.OwnerSubjects("alice"), seq, "cmd-1", []events.Event{revoked("alice", "K1")})
		if !errors.Is(err, events.ErrDuplicate) {
			t.Fatalf("retry: %v, want ErrDuplicate", err)
		}
		batch := []events.Event{revoked("alice", "K2"), revoked("alice", "K3")}
		seq, err = s.Append(ctx, events.OwnerSubjects("alice"), seq, "cmd-2", batch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = s.Append(ctx, events.OwnerSubjects("alice"), seq, "cmd-2", batch); !errors.Is(err, events.ErrDuplicate) {
			t.Fatalf("batch retry: %v, want ErrDuplicate", err)
		}
		if got, _, _ := s.Load(ctx, events.OwnerSubjects("alice")); len(got) != 3 {
			t.Fatalf("%d events stored, want 3", len(got))
		}
	})

	t.Run("atomic_batch_stores_all_or_nothing", func(t *testing.T) {
		s := store(t)
		first, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", []events.Event{revoked("alice", "K0")})
		if err != nil {
			t.Fatal(err)
		}
		var batch []events.Event
		for i := range 50 {
			batch = append(batch, revoked("alice", fmt.Sprintf("B%d", i)))
		}
		if _, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", batch); !errors.Is(err, events.ErrConflict) {
			t.Fatalf("stale batch: %v, want ErrConflict", err)
		}
		if got, _, _ := s.Load(ctx, events.OwnerSubjects("alice")); len(got) != 1 {
			t.Fatalf("a refused batch left %d events, want 1", len(got)-1)
		}
		last, err := s.Append(ctx, events.OwnerSubjects("alice"), first, "", batch)
		if err != nil {
			t.Fatal(err)
		}
		if last != first+50 {
			t.Fatalf("batch ends at %d, want %d: not contiguous", last, first+50)
		}
	})

	t.Run("follow_delivers_from_a_sequence_and_then_live", func(t *testing.T) {
		s := store(t)
		for i := range 5 {
			if _, err := s.Append(ctx, events.OwnerSubjects(fmt.Sprintf("u%d", i)), 0, "", []events.Event{revoked(fmt.Sprintf("u%d", i), "K")}); err != nil {
				t.Fatal(err)
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a loaded 2-core CI and a 3-node cluster
		defer cancel()
		var seqs []uint64
		appendErr := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			// A cluster under load may refuse for a moment: retry, and say
			// why if the follow then waits in vain.
			var err error
			for fctx.Err() == nil {
				if _, err = s.Append(fctx, events.OwnerSubjects("late"), 0, "", []events.Event{revoked("late", "K")}); err == nil || errors.Is(err, events.ErrConflict) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			appendErr <- err
		}()
		err := s.Follow(fctx, 3, func(b []events.Recorded) error {
			for _, r := range b {
				seqs = append(seqs, r.Seq)
			}
			if len(seqs) == 4 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow ended with %v (the live append: %v)", err, <-appendErr)
		}
		if fmt.Sprint(seqs) != "[3 4 5 6]" {
			t.Fatalf("followed %v, want [3 4 5 6]", seqs)
		}
	})

	// A live follower is sent each event alone; while fn is busy with one
	// batch, the next must gather everything that arrived meanwhile, or a
	// projector commits one transaction per event however far behind it is.
	t.Run("a_busy_follower_gets_what_arrived_meanwhile_in_one_batch", func(t *testing.T) {
		s := store(t)
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		const later = 300
		started, appended := make(chan struct{}), make(chan struct{})
		var sizes []int
		seen := 0
		go func() {
			<-started
			for i := range later {
				if _, err := s.Append(ctx, events.OwnerSubjects(fmt.Sprintf("w%d", i)), 0, "", []events.Event{revoked(fmt.Sprintf("w%d", i), "K")}); err != nil {
					t.Error(err)
				}
			}
			close(appended)
		}()
		if _, err := s.Append(ctx, events.OwnerSubjects("first"), 0, "", []events.Event{revoked("first", "K")}); err != nil {
			t.Fatal(err)
		}
		err := s.Follow(fctx, 1, func(b []events.Recorded) error {
			if sizes = append(sizes, len(b)); len(sizes) == 1 {
				close(started)
				<-appended // busy until all the others are stored
				time.Sleep(200 * time.Millisecond)
			}
			if seen += len(b); seen == 1+later {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow ended with %v after batches of %v", err, sizes)
		}
		if len(sizes) > 3 {
			t.Fatalf("%d events stored while the follower was busy came in %d batches (%v); want them gathered", later, len(sizes)-1, sizes)
		}
	})

	t.Run("stream_denies_delete_and_purge", func(t *testing.T) {
		s := store(t)
		if _, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", []events.Event{revoked("alice", "K")}); err != nil {
			t.Fatal(err)
		}
		st, err := js.Stream(ctx, s.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteMsg(ctx, 1); err == nil {
			t.Fatal("deleting an event succeeded")
		}
		if err := st.Purge(ctx); err == nil {
			t.Fatal("purging the stream succeeded")
		}
		if got, _, _ := s.Load(ctx, events.OwnerSubjects("alice")); len(got) != 1 {
			t.Fatal("event gone after refused delete/purge")
		}
	})

	t.Run("stored_user_events_are_republished_as_notifications", func(t *testing.T) {
		s := store(t)
		sub, err := js.Conn().SubscribeSync("keyledger.notify.revoked.*")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		seq, err := s.Append(ctx, events.OwnerSubjects("alice"), 0, "", []events.Event{revoked("alice", "K9")})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != "keyledger.notify.revoked.K9" || msg.Header.Get("Nats-Sequence") != fmt.Sprint(seq) {
			t.Fatalf("notification on %s seq %s, want keyledger.notify.revoked.K9 seq %d", msg.Subject, msg.Header.Get("Nats-Sequence"), seq)
		}
		// An atomic batch announces each event with its own sequence.
		last, err := s.Append(ctx, events.OwnerSubjects("alice"), seq, "", []events.Event{
			revoked("alice", "K10"), revoked("alice", "K11"), revoked("alice", "K12")})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range []string{"K10", "K11", "K12"} {
			msg, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if want := last - 2 + uint64(i); msg.Subject != "keyledger.notify.revoked."+k || msg.Header.Get("Nats-Sequence") != fmt.Sprint(want) {
				t.Fatalf("notification on %s seq %s, want %s seq %d", msg.Subject, msg.Header.Get("Nats-Sequence"), k, want)
			}
			if r, err := s.Get(ctx, last-2+uint64(i)); err != nil || r.Event.KeyRef() != k || string(r.Data) != string(msg.Data) {
				t.Fatalf("notification body is not the stored event %d: %v", last-2+uint64(i), err)
			}
		}
	})

	t.Run("an_owner_has_a_subject_per_event_name_not_per_key", func(t *testing.T) {
		// JetStream checks an append's expected sequence by visiting every
		// subject under the owner's filter: that must not grow with keys.
		s := store(t)
		var last uint64
		for i := 0; i < 200; {
			// The subject count is what this asserts. On R3 under load an
			// append right after the previous acknowledgement is now and then
			// refused as a conflict; like the service, read the owner's last
			// sequence and append again (the message ID keeps it stored once).
			seq, err := s.Append(ctx, events.OwnerSubjects("carol"), last, fmt.Sprint("c", i), []events.Event{revoked("carol", fmt.Sprintf("K%d", i))})
			switch {
			case errors.Is(err, events.ErrConflict):
				if _, last, err = s.Load(ctx, events.OwnerSubjects("carol")); err != nil {
					t.Fatal(err)
				}
				continue
			case err != nil && !errors.Is(err, events.ErrDuplicate):
				t.Fatal(err)
			}
			last = seq
			i++
		}
		st, err := js.Stream(ctx, s.Stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.OwnerSubjects("carol")))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) != 1 || info.State.Subjects["keyledger.events.user.carol.revoked"] != 200 {
			t.Fatalf("carol's subjects: %v; want one subject holding 200 events", info.State.Subjects)
		}
	})
}
