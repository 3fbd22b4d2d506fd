package events_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
)

// flaky is a stream that is lost twice before it delivers, then fails with
// an undecodable event: what FollowRetrying must retry, and where it stops.
type flaky struct {
	calls []uint64 // the sequence each Follow started from
}

func (f *flaky) Follow(ctx context.Context, from uint64, fn func([]events.Recorded) error) error {
	f.calls = append(f.calls, from)
	switch len(f.calls) {
	case 1, 2:
		return errors.New("nats: connection closed")
	case 3:
		if err := fn([]events.Recorded{{Seq: from}, {Seq: from + 1}}); err != nil {
			return err
		}
		return errors.New("nats: stream lost")
	}
	return events.ErrUndecodable
}

func TestFollowRetryingRetriesFromWhereItWasAndStopsOnPermanentErrors(t *testing.T) {
	f := &flaky{}
	var applied uint64 = 4
	start := time.Now()
	err := events.FollowRetrying(context.Background(), f, func() uint64 { return applied + 1 },
		func(b []events.Recorded) error { applied = b[len(b)-1].Seq; return nil },
		func(err error) bool { return errors.Is(err, events.ErrUndecodable) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, events.ErrUndecodable) {
		t.Fatalf("returned %v, want the undecodable event", err)
	}
	if want := []uint64{5, 5, 5, 7}; len(f.calls) != len(want) || f.calls[0] != 5 || f.calls[2] != 5 || f.calls[3] != 7 {
		t.Fatalf("followed from %v, want %v", f.calls, want)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("retried three times in %v: no backoff", d)
	}
}

func TestFollowRetryingEndsQuietlyWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := events.FollowRetrying(ctx, &flaky{}, func() uint64 { return 1 }, func([]events.Recorded) error { return nil },
		func(error) bool { return false }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("after ctx ended: %v", err)
	}
}
