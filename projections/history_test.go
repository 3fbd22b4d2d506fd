package projections_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger/projections"
)

// TestPointInTimeViewsAreBounded: asking for many points in time at once
// (any caller of an as_of query may) replays no more than the views the
// History keeps, and no more than Builds at once, so the stream's consumers
// stay few; a view asked for afterwards is answered.
func TestPointInTimeViewsAreBounded(t *testing.T) {
	store, last := seedRebuild(t, 20_000)
	h := projections.NewHistory(store)
	h.Dir = t.TempDir()
	defer h.Close()
	ctx := context.Background()
	st, err := store.JS.Stream(ctx, store.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if info, err := st.Info(ctx); err == nil && int64(info.State.Consumers) > peak.Load() {
				peak.Store(int64(info.State.Consumers))
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 40 {
		seq := last - uint64(i)*200
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, _ = h.At(ctx, seq, time.Time{}) // evicted ones are given up
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	// The History keeps 4 views and replays 2 at once; a replay's
	// consumer is removed a moment after it ends.
	if p := peak.Load(); p > 5 {
		t.Errorf("%d consumers on the stream at once for 40 views asked for; want no more than the views kept", p)
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := h.At(actx, last/2, time.Time{})
	if err != nil {
		t.Fatalf("a view asked for afterwards: %v", err)
	}
	if pos, err := db.Position(actx, "ledger"); err != nil || pos != last/2 {
		t.Fatalf("view at %d holds the ledger to %d (%v)", last/2, pos, err)
	}
}
