package projections

import (
	"context"
	"database/sql"
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
	// LastStored is the newest message the stream still holds: what
	// catching up at start waits for (LastSeq may name a message lost).
	LastStored(ctx context.Context) (uint64, error)
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
	// SkipUnreadable passes over an event the projection cannot decode or
	// apply with a warning and a count (Skipped) instead of halting: for
	// usage, which is telemetry and must not block readiness.
	SkipUnreadable bool
	// Accept, if set, says which events belong to this projection; any
	// other is one it cannot apply.
	Accept func(events.Event) bool
	// Appliers are the projections this projector feeds; nil means those
	// registered on DB for Name (see DB.Use).
	Appliers []Applier
	// CommitEvery spaces out the transactions of a projector that is
	// keeping up: after committing a small batch it waits this long, and
	// what arrives meanwhile is committed together. Every transaction
	// rewrites the pages it touches (each index of keys and of the audit
	// trail), so under a steady stream of commands this turns one
	// transaction per event into one per several. An event arriving alone
	// is committed at once, a projector catching up never waits, and a
	// reader waiting for an event (WaitFor) ends the wait at once, so reads
	// after writes are not slowed by it.
	CommitEvery time.Duration
	// Durable, if set, returns once every write the stream acknowledged
	// before the call is on disk (groupcommit's Sync). A batch is written
	// to SQLite only after it: events the stream would lose to a power cut
	// never reach the projections, which would then be ahead of it.
	Durable func(ctx context.Context) error

	mu      sync.Mutex
	applied uint64
	at      time.Time // when the last applied event was recorded
	changed chan struct{}
	ready   chan struct{}
	halt    *Halt           // the event the projection stopped at, until skipped
	trouble error           // the last failure writing the database, until a commit
	skipped uint64          // events passed over (SkipUnreadable)
	haltAt  events.Recorded // the event halted at (the follow goroutine's, then Run's)
	hurry   chan struct{}   // a WaitFor caller is behind: stop gathering
	wanted  uint64          // the highest seq a WaitFor caller asked for
}

// NewProjector returns a projector from src into db.
func NewProjector(db *DB, src Source) *Projector {
	return &Projector{DB: db, Source: src, Name: "ledger", Logger: slog.Default(), ProgressEvery: time.Second,
		CommitEvery: DefaultCommitEvery, changed: make(chan struct{}), ready: make(chan struct{}), hurry: make(chan struct{}, 1)}
}

// DefaultCommitEvery is NewProjector's CommitEvery. At 2 ms a transaction
// held about five events under load, and the projector's share of a
// command's CPU went mostly to per-transaction work (statements prepared,
// the same index pages written again); 10 ms gave 30% more commands per
// second on interval sync, 25 ms no more than 10.
const DefaultCommitEvery = 10 * time.Millisecond

// gatherBelow is the batch size under which a projector that committed
// waits for CommitEvery: a larger batch means it is catching up.
const gatherBelow = 256

// errApply marks a failure of the database itself (not of one event):
// retried, since the disk or the file may recover.
var errApply = errors.New("projection")

// errUntil ends a projection that has applied everything up to Until.
var errUntil = errors.New("projection reached its last sequence")

// Run applies events until ctx ends, or with Until until it has applied that
// sequence. Losing the stream or failing to write the database is retried.
// An event the projection cannot decode or apply halts it (Halted, Health)
// until an EventSkipped for its sequence is stored; Run does not return on
// it, so the process keeps serving. A point-in-time replay (Until) that
// finds no skip for it returns the *Halt instead.
func (p *Projector) Run(ctx context.Context) error {
	from, err := p.DB.Position(ctx, p.Name)
	if err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	p.advance(from)
	target, err := p.Source.LastStored(ctx)
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
	// The follow-and-retry loop is the one gateways use too; a batch this
	// projection could not write is retried (and shown on /readyz), an event
	// it cannot apply halts it until a skip is stored.
	next := func() uint64 { return p.Applied() + 1 }
	apply := func(batch []events.Recorded) error {
		err := p.applyBatch(batch)
		if errors.Is(err, errApply) {
			p.setTrouble(err)
			p.Logger.Error("writing projections failed; retrying", "projection", p.Name, "err", err)
		}
		if err == nil && len(batch) < gatherBelow && p.CommitEvery > 0 && !p.readerWaiting() {
			select { // what arrives meanwhile is read and becomes the next batch
			case <-ctx.Done():
			case <-time.After(p.CommitEvery):
			case <-p.hurry:
			}
		}
		return err
	}
	for {
		err := events.FollowRetrying(ctx, p.Source, next, apply, func(err error) bool {
			var h *Halt
			return errors.Is(err, errUntil) || errors.As(err, &h)
		}, p.Logger)
		var h *Halt
		switch {
		case err == nil || ctx.Err() != nil || errors.Is(err, errUntil):
			return nil
		case errors.As(err, &h):
			p.halted(h)
			if err := p.awaitSkip(ctx, h); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errNoSkip) {
					return h
				}
				p.Logger.Warn("looking for a skip of the halting event failed; retrying", "projection", p.Name, "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		default:
			return err
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
		if err := p.waitFor(ctx, target, tick.C, false); err == nil {
			n := target - from
			p.Logger.Info("projections caught up", "projection", p.Name, "events", n, "seconds", time.Since(start).Seconds(),
				"events_per_s", int(float64(n)/max(time.Since(start).Seconds(), 1e-9)))
			close(p.ready)
			return
		} else if ctx.Err() != nil {
			return
		}
		if p.Health() != nil {
			continue // halted or failing: logged loudly where it happened
		}
		done := p.Applied() - from
		p.Logger.Info("projections catching up", "projection", p.Name, "applied", p.Applied(), "of", target,
			"percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(target-from)),
			"events_per_s", int(float64(done)/time.Since(start).Seconds()))
	}
}

// applyBatch applies a batch in one transaction. When one event in it
// cannot be applied, the events before it are committed on their own, and
// the bad one halts the projection, or with SkipUnreadable is passed over.
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
	if p.Durable != nil && len(batch) > 0 {
		// The batch was read from the stream, so the stream had written it:
		// a sync that begins now covers it.
		if err := p.Durable(context.Background()); err != nil {
			return fmt.Errorf("%w: %w", errApply, err)
		}
	}
	for len(batch) > 0 {
		n, bad, err := p.commit(batch)
		if err != nil {
			return err
		}
		if bad == nil {
			break
		}
		if n > 0 {
			if _, again, err := p.commit(batch[:n]); err != nil || again != nil {
				return errors.Join(err, again)
			}
		}
		r := batch[n]
		if !p.SkipUnreadable {
			p.haltAt = r
			return &Halt{Projection: p.Name, Seq: r.Seq, Subject: r.Subject, Reason: bad.Error()}
		}
		p.mu.Lock()
		p.skipped++
		p.mu.Unlock()
		p.Logger.Warn("skipping a record the projection cannot read", "projection", p.Name, "seq", r.Seq,
			"subject", r.Subject, "reason", bad.Error())
		if err := p.commitPosition(r); err != nil {
			return err
		}
		batch = batch[n+1:]
	}
	if p.Until > 0 && p.Applied() >= p.Until {
		return errUntil
	}
	return nil
}

// commit applies batch in one transaction with the new position. If an
// event cannot be applied, nothing is committed, and its index and why are
// returned; err is a failure of the database itself.
func (p *Projector) commit(batch []events.Recorded) (n int, bad, err error) {
	if len(batch) == 0 {
		return 0, nil, nil
	}
	tx, err := p.DB.db.Begin()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: begin: %w", errApply, err)
	}
	defer tx.Rollback()
	for i, r := range batch {
		if err := p.admit(r); err != nil {
			return i, err, nil
		}
	}
	if p.Appliers == nil {
		p.Appliers = p.DB.appliersFor(p.Name)
	}
	for _, a := range p.Appliers {
		if err := applyAll(tx, a, batch); err != nil {
			if dbFailure(err) {
				return 0, nil, fmt.Errorf("%w: %s: %w", errApply, a.Name(), err)
			}
			tx.Rollback()
			return p.findBad(batch)
		}
	}
	last := batch[len(batch)-1].Seq
	if _, err := tx.Exec(`UPDATE projection_state SET last_seq = ? WHERE name = ?`, last, p.Name); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errApply, err)
	}
	if p.BeforeCommit != nil {
		p.BeforeCommit(last)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("%w: commit: %w", errApply, err)
	}
	if p.AfterCommit != nil {
		p.AfterCommit(batch)
	}
	p.setTrouble(nil)
	p.mu.Lock()
	p.at = batch[len(batch)-1].Event.Base().At
	p.mu.Unlock()
	p.advance(last)
	return len(batch), nil, nil
}

// findBad applies batch event by event in a transaction it then abandons,
// to name the event that cannot be applied (a batch applier only says that
// one could not).
func (p *Projector) findBad(batch []events.Recorded) (n int, bad, err error) {
	tx, err := p.DB.db.Begin()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: begin: %w", errApply, err)
	}
	defer tx.Rollback()
	for i, r := range batch {
		for _, a := range p.Appliers {
			if err := a.Apply(tx, r); err != nil {
				if dbFailure(err) {
					return 0, nil, fmt.Errorf("%w: %s: %w", errApply, a.Name(), err)
				}
				return i, fmt.Errorf("%s: %w", a.Name(), err), nil
			}
		}
	}
	return 0, nil, fmt.Errorf("%w: a batch failed to apply, its events one by one did not", errApply)
}

// commitPosition moves the position past an event without applying it, but
// for appliers that must see every stored event (the audit log's leaf).
func (p *Projector) commitPosition(r events.Recorded) error {
	tx, err := p.DB.db.Begin()
	if err != nil {
		return fmt.Errorf("%w: begin: %w", errApply, err)
	}
	defer tx.Rollback()
	if p.Appliers == nil {
		p.Appliers = p.DB.appliersFor(p.Name)
	}
	for _, a := range p.Appliers {
		if s, ok := a.(Skipper); ok {
			if err := s.ApplySkipped(tx, r); err != nil {
				return fmt.Errorf("%w: %s: %w", errApply, a.Name(), err)
			}
		}
	}
	if _, err := tx.Exec(`UPDATE projection_state SET last_seq = ? WHERE name = ?`, r.Seq, p.Name); err != nil {
		return fmt.Errorf("%w: %w", errApply, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %w", errApply, err)
	}
	p.advance(r.Seq)
	return nil
}

// applyAll gives a the batch whole if it takes batches, else event by event.
func applyAll(tx *sql.Tx, a Applier, batch []events.Recorded) error {
	if b, ok := a.(BatchApplier); ok {
		return b.ApplyBatch(tx, batch)
	}
	for _, r := range batch {
		if err := a.Apply(tx, r); err != nil {
			return err
		}
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

// WaitFor blocks until the event at seq has been applied, or ctx ends. A
// halted projection answers at once with its *Halt: it will not get there
// until an admin acts.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	p.mu.Lock()
	behind := p.applied < seq
	if behind {
		p.wanted = max(p.wanted, seq)
	}
	p.mu.Unlock()
	if behind {
		select { // a reader waits: commit what is gathered now
		case p.hurry <- struct{}{}:
		default:
		}
	}
	return p.waitFor(ctx, seq, nil, true)
}

// readerWaiting reports whether a WaitFor caller wants an event not yet
// applied: then the projector does not gather.
func (p *Projector) readerWaiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wanted > p.applied
}

func (p *Projector) waitFor(ctx context.Context, seq uint64, stop <-chan time.Time, failOnHalt bool) error {
	for {
		p.mu.Lock()
		applied, changed, halt := p.applied, p.changed, p.halt
		p.mu.Unlock()
		if applied >= seq {
			return nil
		}
		if halt != nil && failOnHalt {
			return halt
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
