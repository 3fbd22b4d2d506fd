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

	mu    sync.Mutex
	views []*view // most recent first
}

type view struct {
	seq   uint64
	ready chan struct{}
	db    *DB
	last  time.Time // when the event at seq was recorded
	err   error
}

// NewHistory returns a History over src that keeps 4 views.
func NewHistory(src Source) *History { return &History{Source: src, Keep: 4} }

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
	v := &view{seq: seq, ready: make(chan struct{})}
	h.views = append([]*view{v}, h.views...)
	var evicted []*view
	if len(h.views) > max(h.Keep, 1) {
		evicted, h.views = h.views[max(h.Keep, 1):], h.views[:max(h.Keep, 1)]
	}
	h.mu.Unlock()
	for _, old := range evicted {
		go old.close()
	}
	go v.build(h.Source, h.Dir)
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

// build replays the stream up to the view's sequence into a new file.
func (v *view) build(src Source, dir string) {
	defer close(v.ready)
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err = p.Run(ctx)
	_, v.last = p.Position()
	if err != nil {
		v.err = fmt.Errorf("point-in-time view at seq %d: %w", v.seq, err)
	} else if p.Applied() < v.seq {
		v.err = keyledger.Errorf(keyledger.EUnavailable, "point-in-time view at seq %d: replay did not finish", v.seq)
	}
}

func (v *view) close() {
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
