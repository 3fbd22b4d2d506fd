package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
	"github.com/oklog/ulid/v2"
)

func TestNothingIsProjectedBeforeItIsOnDisk(t *testing.T) {
	// An event the stream would lose to a power cut must not reach
	// SQLite: the projections would be ahead of the stream after it.
	f := newHaltFixture(t, false)
	calls, release := make(chan struct{}, 10), make(chan struct{})
	p, _ := f.run(t, func(p *projections.Projector) {
		p.Durable = func(ctx context.Context) error {
			calls <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	seq := f.event(t, &events.UserRegistered{Meta: events.Meta{At: time.Now().UTC()}, UserID: ulid.Make().String(),
		Name: "alice", Kind: "person", Roles: []string{"developer"}})
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the projector never waited for the disk")
	}
	time.Sleep(50 * time.Millisecond)
	if got := p.Applied(); got >= seq {
		t.Fatalf("projected seq %d before the disk synced it", got)
	}
	close(release)
	waitApplied(t, p, seq)
}
