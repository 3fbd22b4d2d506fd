package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger/events"
	"github.com/mattn/go-sqlite3"
)

// Halt is why a projection stopped: the stored event it could not decode or
// apply. It stays halted, answering readiness probes and waiters with this
// error, until an EventSkipped for Seq is stored.
type Halt struct {
	Projection string
	Seq        uint64
	Subject    string
	Reason     string
}

// Error says what stopped and how to get past it.
func (h *Halt) Error() string {
	return fmt.Sprintf("projection %s halted at stream sequence %d (%s): %s; fix the cause and restart, "+
		"or pass over it with `keyledger admin skip-event %d --reason TEXT`", h.Projection, h.Seq, h.Subject, h.Reason, h.Seq)
}

// errSkipFound ends the search for an EventSkipped once it is found;
// errNoSkip ends a point-in-time replay's search at the end of the stream.
var (
	errSkipFound = errors.New("skip found")
	errNoSkip    = errors.New("no skip stored for the halting event")
)

// admit checks what can be checked of an event before applying it: that it
// was readable, belongs to this projection, and is stored where it belongs
// (an event under another owner's subject would dodge that owner's
// optimistic concurrency).
func (p *Projector) admit(r events.Recorded) error {
	if u, ok := r.Event.(*events.Undecodable); ok {
		return fmt.Errorf("cannot decode: %w", u.Err)
	}
	if p.Accept != nil && !p.Accept(r.Event) {
		return fmt.Errorf("a %s does not belong in this stream", r.Event.Base().Type)
	}
	if want := events.Subject(r.Event); r.Subject != "" && r.Subject != want && r.Subject != events.LegacySubject(r.Event) {
		return fmt.Errorf("a %s stored on %s belongs on %s", r.Event.Base().Type, r.Subject, want)
	}
	return nil
}

// dbFailure tells a failure of the database (retry) from an event that does
// not fit the projection (a constraint it breaks, a row it lacks: halt).
func dbFailure(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code != sqlite3.ErrConstraint && se.Code != sqlite3.ErrMismatch && se.Code != sqlite3.ErrTooBig
	}
	return false
}

// halted records h, tells waiters, and says so loudly.
func (p *Projector) halted(h *Halt) {
	p.mu.Lock()
	p.halt = h
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.Logger.Error("projection halted: an event cannot be applied; commands are refused until it is fixed or skipped",
		"projection", h.Projection, "seq", h.Seq, "subject", h.Subject, "reason", h.Reason,
		"skip_with", fmt.Sprintf("keyledger admin skip-event %d --reason TEXT", h.Seq))
}

// awaitSkip follows the stream past the halting event, applying nothing,
// until an EventSkipped for it is stored; then it moves the position past
// the halting event, and Run goes on from there (applying the events in
// between, the EventSkipped among them, in order).
//
// A point-in-time replay (Until) does not wait: it looks as far as the
// stream goes now, and answers errNoSkip if no skip is stored.
func (p *Projector) awaitSkip(ctx context.Context, h *Halt) error {
	var end uint64
	if p.Until > 0 {
		last, err := p.Source.LastSeq(ctx)
		if err != nil {
			return err
		}
		if last <= h.Seq {
			return errNoSkip
		}
		end = last
	}
	var found *events.EventSkipped
	var at uint64
	err := p.Source.Follow(ctx, h.Seq+1, func(batch []events.Recorded) error {
		for _, r := range batch {
			if s, ok := r.Event.(*events.EventSkipped); ok && s.Seq == h.Seq && r.Subject == events.Subject(s) {
				found, at = s, r.Seq
				return errSkipFound
			}
			if end > 0 && r.Seq >= end {
				return errNoSkip
			}
		}
		return nil
	})
	if !errors.Is(err, errSkipFound) {
		return err
	}
	if p.haltAt.Seq != h.Seq {
		return fmt.Errorf("%w: halted at %d but holding event %d", errApply, h.Seq, p.haltAt.Seq)
	}
	if err := p.commitPosition(p.haltAt); err != nil {
		return err
	}
	p.mu.Lock()
	p.halt = nil
	p.mu.Unlock()
	p.Logger.Warn("projection passes over an event an admin skipped", "projection", p.Name, "seq", h.Seq,
		"skipped_by", found.Actor, "skip_seq", at, "reason", found.Reason)
	return nil
}

// Halted returns the sequence the projection is halted at and why, or 0.
func (p *Projector) Halted() (seq uint64, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.halt == nil {
		return 0, ""
	}
	return p.halt.Seq, p.halt.Error()
}

// Health is nil while the projection keeps up; otherwise the *Halt it is
// stopped at, or the database failure it is retrying.
func (p *Projector) Health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.halt != nil {
		return p.halt
	}
	return p.trouble
}

// Skipped counts the records passed over (SkipUnreadable).
func (p *Projector) Skipped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.skipped
}

func (p *Projector) setTrouble(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("projection %s: %w", p.Name, err)
	}
	p.trouble = err
}
