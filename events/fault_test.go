package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/oklog/ulid/v2"
)

// A usage flush waiting for acknowledgements when the stream is found
// unwritable stops waiting: the server will never answer it. Before, it
// waited out its 30 s, and held a shutdown that long (operator trial: 23 s,
// past docker stop's 10). Once marked, every write is refused at once;
// cleared, the store writes again.
func TestAWriteWaitingWhenTheStreamFailsStopsWaiting(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	usage := events.NewUsageStore(js)
	if err := usage.Open(ctx); err != nil {
		t.Fatal(err)
	}
	minute := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	publish := func(ctx context.Context) error {
		e := &events.UsageRecorded{Meta: events.Meta{At: minute, Actor: "system"}, KeyID: ulid.Make().String(), Owner: "U",
			Minute: minute, Valid: 1, Instance: "a"}
		return usage.Publish(ctx, []events.Event{e}, []string{ulid.Make().String()})
	}
	if err := publish(ctx); err != nil {
		t.Fatal(err)
	}
	if natstest.FailWrites(t, usage.Stream) == 0 {
		t.Fatal("no open message block")
	}
	done := make(chan error, 1)
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		done <- publish(pctx)
	}()
	time.Sleep(200 * time.Millisecond) // the write is out, unanswered
	usage.SetFault(errors.New("write: no space left on device"))
	select {
	case err := <-done:
		if !errors.Is(err, events.ErrUnwritable) {
			t.Fatalf("the waiting write: %v; want ErrUnwritable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting write still waits 5 s after the stream was found unwritable")
	}
	if err := publish(ctx); !errors.Is(err, events.ErrUnwritable) || !errors.Is(usage.Fault(), events.ErrUnwritable) {
		t.Fatalf("a write once marked: %v (fault %v)", err, usage.Fault())
	}
	usage.SetFault(nil)
	if usage.Fault() != nil {
		t.Fatalf("cleared, the fault is %v", usage.Fault())
	}
}

// Commands' appends (one event, an atomic batch) and denied attempts'
// records already sent when the event stream is found unwritable stop
// waiting too, and say that whether they were stored is not known. Before,
// only usage flushes did: a command held its NATS worker (and the turn of
// its owner) for the whole request timeout, and a later command routed to
// that worker waited it out although the stream was known to be broken (CI:
// "key issue" timed out after 10 s while "key revoke" was refused in 26 ms).
// A write sent once the fault is known is refused before it is sent:
// nothing is in doubt.
func TestCommandsWaitingWhenTheStreamFailsStopWaiting(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	ledger := events.NewStore(js)
	if err := ledger.Open(ctx); err != nil {
		t.Fatal(err)
	}
	owner := events.OwnerSubjects("alice")
	if _, err := ledger.Append(ctx, owner, 0, "", []events.Event{revoked("alice", "K0")}); err != nil {
		t.Fatal(err)
	}
	if natstest.FailWrites(t, ledger.Stream) == 0 {
		t.Fatal("no open message block")
	}
	sent := js.Conn().Stats().OutMsgs
	writes := map[string]func(context.Context) error{
		"one event": func(ctx context.Context) error {
			_, err := ledger.Append(ctx, owner, 1, "", []events.Event{revoked("alice", "K1")})
			return err
		},
		"a batch": func(ctx context.Context) error {
			_, err := ledger.Append(ctx, events.OwnerSubjects("bob"), 0, "", []events.Event{revoked("bob", "K1"), revoked("bob", "K2")})
			return err
		},
		"a record": func(ctx context.Context) error {
			_, err := ledger.Record(ctx, revoked("carol", "K1"))
			return err
		},
	}
	done := make(map[string]chan error)
	for name, write := range writes {
		ch := make(chan error, 1)
		done[name] = ch
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			ch <- write(wctx)
		}()
	}
	// The writes are out (4 messages: one, two, one), unanswered.
	for js.Conn().Stats().OutMsgs < sent+4 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // time for an answer, were one coming
	for name, ch := range done {
		select {
		case err := <-ch:
			t.Fatalf("%s was answered on a failed disk: %v", name, err)
		default:
		}
	}
	ledger.SetFault(errors.New("write: no space left on device"))
	deadline := time.After(5 * time.Second)
	for name, ch := range done {
		select {
		case err := <-ch:
			if !errors.Is(err, events.ErrUnanswered) || !errors.Is(err, events.ErrUnwritable) {
				t.Errorf("%s waiting when the stream failed: %v; want ErrUnanswered", name, err)
			}
		case <-deadline:
			t.Fatalf("%s still waits 5 s after the stream was found unwritable", name)
		}
	}
	for name, write := range writes {
		if err := write(ctx); !errors.Is(err, events.ErrUnwritable) || errors.Is(err, events.ErrUnanswered) {
			t.Errorf("%s once marked: %v; want ErrUnwritable, refused before it was sent", name, err)
		}
	}
}
