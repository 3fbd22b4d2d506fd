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
