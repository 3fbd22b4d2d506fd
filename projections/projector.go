package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keyledger/keyledger/events"
)

// Source yields stored events in order from a sequence on; it is what the
// projector needs of the event store.
type Source interface {
	Follow(ctx context.Context, from uint64, fn func([]events.Recorded) error) error
	LastSeq(ctx context.Context) (uint64, error)
}

// Projector keeps DB current with one stream. Fill the fields, then Run.
type Projector struct {
	DB     *DB
	Source Source
	// Name is the projection_state row holding its position: "ledger" for
	// the event stream, "usage" for the usage stream.
	Name   string
	Logger *slog.Logger
	// ProgressEvery is how often a catch-up logs its progress.
	ProgressEvery time.Duration
	// BeforeCommit, if set, runs after a batch is written and before its
	// transaction commits: crash tests stop the process there.
	BeforeCommit func(lastSeq uint64)
	// Until, if set, is the last sequence to apply: Run returns once it has
	// applied it (a point-in-time view), and never applies anything later.
	Until uint64
	// AfterCommit, if set, sees every committed batch before anyone waiting
	// for it is told: the in-memory verify index is fed here, so a command's
	// reply comes only after verification reflects it too.
	AfterCommit func(batch []events.Recorded)

	mu      sync.Mutex
	applied uint64
	at      time.Time // when the last applied event was recorded
	changed chan struct{}
	ready   chan struct{}
}

// NewProjector returns a projector from src into db.
func NewProjector(db *DB, src Source) *Projector {
	return &Projector{DB: db, Source: src, Name: "ledger", Logger: slog.Default(), ProgressEvery: time.Second,
		changed: make(chan struct{}), ready: make(chan struct{})}
}

// errApply marks a batch the projection could not apply: a bug or a broken
// file, which retrying cannot fix.
var errApply = errors.New("projection")

// errUntil ends a projection that has applied everything up to Until.
var errUntil = errors.New("projection reached its last sequence")

// Run applies events until ctx ends. Losing the stream is retried; an event
// the projection cannot apply stops it with an error.
func (p *Projector) Run(ctx context.Context) error {
	from, err := p.DB.Position(ctx, p.Name)
	if err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	p.advance(from)
	target, err := p.Source.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("stream state: %w", err)
	}
	if p.Until > 0 {
		if from >= p.Until {
			return nil
		}
		target = min(target, p.Until)
	}
	go p.reportCatchUp(ctx, from, target)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := p.Source.Follow(ctx, p.Applied()+1, p.applyBatch)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errUntil):
			return nil
		case errors.Is(err, errApply):
			return err
		}
		p.Logger.Warn("following the event stream failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// reportCatchUp logs progress while the projection replays what was stored
// before it started, and marks it ready when it has.
func (p *Projector) reportCatchUp(ctx context.Context, from, target uint64) {
	if target <= from {
		close(p.ready)
		return
	}
	start := time.Now()
	p.Logger.Info("projections catching up", "projection", p.Name, "from", from, "to", target)
	tick := time.NewTicker(p.ProgressEvery)
	defer tick.Stop()
	for {
		if err := p.waitFor(ctx, target, tick.C); err == nil {
			n := target - from
			p.Logger.Info("projections caught up", "projection", p.Name, "events", n, "seconds", time.Since(start).Seconds(),
				"events_per_s", int(float64(n)/max(time.Since(start).Seconds(), 1e-9)))
			close(p.ready)
			return
		} else if ctx.Err() != nil {
			return
		}
		done := p.Applied() - from
		p.Logger.Info("projections catching up", "projection", p.Name, "applied", p.Applied(), "of", target,
			"percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(target-from)),
			"events_per_s", int(float64(done)/time.Since(start).Seconds()))
	}
}

func (p *Projector) applyBatch(batch []events.Recorded) error {
	applied := p.Applied()
	// A batch is in order: anything already applied (a redelivery, which
	// must not count twice) is a prefix.
	for len(batch) > 0 && batch[0].Seq <= applied {
		batch = batch[1:]
	}
	if p.Until > 0 {
		if applied >= p.Until {
			return errUntil
		}
		for len(batch) > 0 && batch[len(batch)-1].Seq > p.Until {
			batch = batch[:len(batch)-1]
		}
	}
	if len(batch) == 0 {
		return nil
	}
	tx, err := p.DB.db.Begin()
	if err != nil {
		return fmt.Errorf("%w: begin: %w", errApply, err)
	}
	defer tx.Rollback()
	last := applied
	for _, r := range batch {
		if err := apply(tx, r); err != nil {
			return fmt.Errorf("%w: %w", errApply, err)
		}
		last = r.Seq
	}
	if _, err := tx.Exec(`UPDATE projection_state SET last_seq = ? WHERE name = ?`, last, p.Name); err != nil {
		return fmt.Errorf("%w: %w", errApply, err)
	}
	if p.BeforeCommit != nil {
		p.BeforeCommit(last)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %w", errApply, err)
	}
	if p.AfterCommit != nil {
		p.AfterCommit(batch)
	}
	p.mu.Lock()
	p.at = batch[len(batch)-1].Event.Base().At
	p.mu.Unlock()
	p.advance(last)
	if p.Until > 0 && last >= p.Until {
		return errUntil
	}
	return nil
}

func (p *Projector) advance(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied = seq
	close(p.changed)
	p.changed = make(chan struct{})
}

// Applied returns the last stream sequence committed to the database.
func (p *Projector) Applied() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// Position returns the last stream sequence applied and when that event was
// recorded (zero before this process applied any).
func (p *Projector) Position() (uint64, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied, p.at
}

// Ready is closed once the projection has applied everything that was in
// the stream when Run started.
func (p *Projector) Ready() <-chan struct{} { return p.ready }

// WaitFor blocks until the event at seq has been applied, or ctx ends.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	return p.waitFor(ctx, seq, nil)
}

func (p *Projector) waitFor(ctx context.Context, seq uint64, stop <-chan time.Time) error {
	for {
		p.mu.Lock()
		applied, changed := p.applied, p.changed
		p.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errors.New("still waiting")
		case <-changed:
		}
	}
}
