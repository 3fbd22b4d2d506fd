package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/oklog/ulid/v2"
)

// A stream's last sequence can name a message it no longer holds: a
// usage stream whose write failed on a full disk came back after a
// restart with last sequence 1 and no message, and the usage projection
// waited for seq 1 forever, keeping /readyz at "projections are catching
// up (at 0)". Catching up waits for the newest message stored. Here the
// stream's newest messages are deleted (a stream that allows it) to leave
// such a counter behind.
func TestCatchingUpIgnoresASequenceNoMessageCarries(t *testing.T) {
	for _, tc := range []struct {
		name          string
		keep, deleted int
		want          uint64
	}{
		{"the newest lost", 3, 2, 3},
		{"every one lost", 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, js := natstest.Connect(t, natstest.RunServer(t))
			ctx := context.Background()
			cfg := events.NewUsageStore(js).Config()
			cfg.DenyDelete = false
			stream, err := js.CreateStream(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			usage := events.NewUsageStore(js)
			if err := usage.Bind(ctx); err != nil {
				t.Fatal(err)
			}
			minute := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			publish := func(n int) {
				var evs []events.Event
				var ids []string
				for range n {
					evs = append(evs, &events.UsageRecorded{Meta: events.Meta{At: minute, Actor: "system"}, KeyID: ulid.Make().String(),
						Owner: "U", Minute: minute, Valid: 1, Instance: "a"})
					ids = append(ids, ulid.Make().String())
				}
				if err := usage.Publish(ctx, evs, ids); err != nil {
					t.Fatal(err)
				}
			}
			publish(tc.keep + tc.deleted)
			for seq := uint64(tc.keep) + 1; seq <= uint64(tc.keep+tc.deleted); seq++ {
				if err := stream.DeleteMsg(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := usage.LastStored(ctx); err != nil || got != tc.want {
				t.Fatalf("LastStored = %d, %v; want %d", got, err, tc.want)
			}
			p := projections.NewProjector(MustOpenDB(t), usage)
			p.Name = "usage"
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(pctx) }()
			select {
			case <-p.Ready():
			case <-time.After(10 * time.Second):
				t.Fatalf("not ready after 10 s: applied %d, the stream's last sequence %d", p.Applied(), tc.keep+tc.deleted)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
