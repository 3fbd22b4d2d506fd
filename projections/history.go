package projections

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

// History answers point-in-time queries: the ledger exactly as it stood
// after a stream sequence, rebuilt by replaying the stream into a fresh
// projection database up to that sequence (never guessed from today's rows).
// The last few views are kept, so paging through one costs one replay.
type History struct {
	Source Source
	// Dir holds the views' database files (the system's temporary
	// directory if empty).
	Dir string
	// Keep is how many views stay open.
	Keep int
	// Builds bounds the replays that run at once (each reads the stream
	// with a consumer of its own and writes a file); more wait their turn.
	Builds int

	mu    sync.Mutex
	views []*view // most recent first
	slots chan struct{}
}

type view struct {
	seq    uint64
	ready  chan struct{}
	db     *DB
	last   time.Time // when the event at seq was recorded
	err    error
	cancel context.CancelFunc
}

// NewHistory returns a History over src that keeps 4 views and replays at
// most 2 at once.
func NewHistory(src Source) *History { return &History{Source: src, Keep: 4, Builds: 2} }

// buildTimeout bounds one replay.
const buildTimeout = 10 * time.Minute

// At returns the projections as they stood once the event at seq was applied,
// with their clock set to at, the instant the view describes (zero: when the
// event at seq was recorded). Callers must not close it.
func (h *History) At(ctx context.Context, seq uint64, at time.Time) (*DB, error) {
	h.mu.Lock()
	for i, v := range h.views {
		if v.seq == seq {
			h.views = append(append([]*view{v}, h.views[:i]...), h.views[i+1:]...)
			h.mu.Unlock()
			return v.wait(ctx, at)
		}
	}
	bctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	v := &view{seq: seq, ready: make(chan struct{}), cancel: cancel}
	h.views = append([]*view{v}, h.views...)
	var evicted []*view
	if len(h.views) > max(h.Keep, 1) {
		evicted, h.views = h.views[max(h.Keep, 1):], h.views[:max(h.Keep, 1)]
	}
	if h.slots == nil {
		h.slots = make(chan struct{}, max(h.Builds, 1))
	}
	slots := h.slots
	h.mu.Unlock()
	// An evicted view's replay stops: asking for many points in time at
	// once starts no more replays than Keep, and runs no more than Builds.
	for _, old := range evicted {
		go old.close()
	}
	go v.build(bctx, h.Source, h.Dir, slots)
	return v.wait(ctx, at)
}

// PastKeys is At for the command service, which reads keys from the view.
func (h *History) PastKeys(ctx context.Context, seq uint64, at time.Time) (commands.PastReader, error) {
	return h.At(ctx, seq, at)
}

func (v *view) wait(ctx context.Context, at time.Time) (*DB, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-v.ready:
	}
	if v.err != nil {
		return nil, v.err
	}
	// A view shares its rows; each answer gets its own clock.
	if at.IsZero() {
		at = v.last
	}
	db := *v.db
	db.Now = func() time.Time { return at }
	return &db, nil
}

// build replays the stream up to the view's sequence into a new file, once
// one of slots is free.
func (v *view) build(ctx context.Context, src Source, dir string, slots chan struct{}) {
	defer close(v.ready)
	defer v.cancel()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	case <-ctx.Done():
		v.err = keyledger.Errorf(keyledger.EUnavailable, "point-in-time view at seq %d: given up (too many asked for at once)", v.seq)
		return
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf("keyledger-asof-%d-*.db", v.seq))
	if err != nil {
		v.err = fmt.Errorf("point-in-time view: %w", err)
		return
	}
	f.Close()
	v.db = NewDB(f.Name())
	if err := v.db.Open(); err != nil {
		v.err = fmt.Errorf("point-in-time view: %w", err)
		return
	}
	if v.seq == 0 {
		return
	}
	p := NewProjector(v.db, src)
	p.Until, p.Logger = v.seq, slog.New(slog.NewTextHandler(io.Discard, nil))
	err = p.Run(ctx)
	_, v.last = p.Position()
	if err != nil {
		v.err = fmt.Errorf("point-in-time view at seq %d: %w", v.seq, err)
	} else if p.Applied() < v.seq {
		v.err = keyledger.Errorf(keyledger.EUnavailable, "point-in-time view at seq %d: replay did not finish", v.seq)
	}
}

func (v *view) close() {
	v.cancel()
	<-v.ready
	if v.db == nil {
		return
	}
	v.db.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(v.db.Path + suffix)
	}
}

// Close removes every view's file.
func (h *History) Close() {
	h.mu.Lock()
	views := h.views
	h.views = nil
	h.mu.Unlock()
	for _, v := range views {
		v.close()
	}
}
