package commands

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// EventStore is what the service needs of the event store: appends with an
// expected sequence, reads of one aggregate after a sequence (to catch up
// after a conflict), and the stream's last sequence.
type EventStore interface {
	Append(ctx context.Context, filter string, expected uint64, msgID string, evs []events.Event) (uint64, error)
	Record(ctx context.Context, e events.Event) (uint64, error)
	After(ctx context.Context, filter string, seq uint64) ([]events.Recorded, error)
	Latest(ctx context.Context, subject string, after uint64) (*events.Recorded, error)
	LastSeq(ctx context.Context) (uint64, error)
	// Fault is not nil while the stream cannot be written (it wraps
	// events.ErrUnwritable): commands are refused before they wait.
	Fault() error
}

// ReadModel is what the service reads from the projections to answer.
type ReadModel interface {
	Settings(ctx context.Context) (keyledger.Settings, error)
	User(ctx context.Context, id string) (*keyledger.User, error)
	Users(ctx context.Context, q string) ([]*keyledger.User, error)
	Key(ctx context.Context, id string) (*keyledger.Key, error)
	Keys(ctx context.Context, f keyledger.KeyFilter) (*keyledger.KeyPage, error)
	KeyOwner(ctx context.Context, id string) (string, error)
	Credential(ctx context.Context, keyID string) (*keyledger.Credential, error)
	// KeysUsedFrom lists the keys used from an address inside p since then.
	KeysUsedFrom(ctx context.Context, p netip.Prefix, since time.Time) ([]string, error)
	StateSource
}

// Applied waits until this instance's projections hold an event.
type Applied interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// Service carries out commands and queries. Fill the fields (NewService sets
// the defaults). It keeps the decision state of the aggregates it works on in
// memory (bounded; see MaxCachedKeys), fed by Observe.
type Service struct {
	Store   EventStore
	Read    ReadModel
	Applied Applied
	Logger  *slog.Logger
	// Now is the clock every decision is made at.
	Now func() time.Time
	// NewID returns a new user or key ID.
	NewID func() string
	// Random is where secrets come from.
	Random io.Reader
	// MaxAttempts bounds how often one command reloads after a conflict.
	MaxAttempts int
	// KeyIndex, if set, authenticates keys in memory and counts each as a use
	// (auth.go); nil reads them from SQLite and counts nothing.
	KeyIndex KeyIndex
	// History, if set, answers as_of queries by replay.
	History History
	// Audit, if set, answers the audit queries.
	Audit AuditReader
	// OnCall, if set, sees every answered catalogue call with its result
	// code ("" for success), whichever transport carried it: metrics.
	OnCall func(endpoint, code string)
	// Trail, if set, answers the audit trail queries (list, trace, prove).
	Trail AuditTrail
	// Checkpoint, if set, signs and appends a checkpoint covering the
	// event at seq if none does yet (audit.Checkpointer.Cover): a receipt
	// for an event newer than the last checkpoint is then given at once.
	Checkpoint func(ctx context.Context, seq uint64) (uint64, error)
	// Appended, if set, sees the events of every owner command this
	// instance appends, right after the store acknowledged them and before
	// the command replies. Wire it to the verify index: then such a command
	// replies without waiting for the SQLite projections, and queries wait
	// for them instead (see fresh), so a reader still sees its own writes.
	Appended func([]events.Recorded)
	// MaxLag bounds, with Appended set, how many events the projections may
	// be behind a command when it replies (DefaultMaxLag): beyond it the
	// command waits, so that writes cannot outrun the projections and leave
	// reads waiting ever longer.
	MaxLag uint64
	// Durable, if set, returns once every write the store acknowledged
	// before the call is on disk (groupcommit's Sync, one fsync shared by
	// the commands of the moment): a command replies only after it. Unset,
	// the store's acknowledgement already means the write is durable.
	Durable func(ctx context.Context) error

	state   *aggregates
	denials deniedLimit
	// written is the last sequence this instance appended: queries wait
	// until the projections hold it.
	written atomic.Uint64
}

// DefaultMaxLag is NewService's MaxLag: about a tenth of a second of writes
// at the rates one instance sustains.
const DefaultMaxLag = 256

// NewService returns a service with the real clock, ULIDs and crypto/rand.
func NewService(store EventStore, read ReadModel, applied Applied) *Service {
	return &Service{
		Store: store, Read: read, Applied: applied, Logger: slog.Default(),
		Now:         func() time.Time { return time.Now().UTC() },
		NewID:       func() string { return ulid.Make().String() },
		Random:      crand.Reader,
		MaxAttempts: 100,
		MaxLag:      DefaultMaxLag,
		state:       newAggregates(read, DefaultMaxCachedKeys),
	}
}

// SetMaxCachedKeys bounds how many keys the in-memory decision state holds
// (DefaultMaxCachedKeys unless set); owners beyond it are refilled from
// SQLite when next used. Call it before serving.
func (s *Service) SetMaxCachedKeys(n int) { s.state.maxKeys = max(n, 1) }

// newSecret returns a fresh token for keyID and the hash that is stored.
func (s *Service) newSecret(keyID string) (token, hash string, err error) {
	var secret [32]byte
	if _, err := io.ReadFull(s.Random, secret[:]); err != nil {
		return "", "", fmt.Errorf("secret: %w", err)
	}
	token, hash = keyledger.NewToken(keyID, secret)
	return token, hash, nil
}

// outcome is what one command on an aggregate came to.
type outcome struct {
	seq      uint64 // last sequence stored (or already there)
	replayed bool   // the command had been applied before
	keyRef   string // with replayed: the key the command last touched
}

// onOwner decides on the in-memory state of ownerID and appends what decide
// returns with the state's sequence expected. When another writer got there
// first it reads what they appended (direct gets, no consumer) and decides
// again. Commands of this instance on one owner take turns. A command ID
// applied before is answered without deciding again. With Appended set, the
// events go to it and the command returns; without, it returns once this
// instance's projections hold them. Either way, a later read on this
// instance sees them (fresh).
func (s *Service) onOwner(ctx context.Context, ownerID, cmdID string, decide func(*Owner) ([]events.Event, error)) (outcome, error) {
	e, err := s.state.owner(ctx, ownerID)
	if err != nil {
		return outcome{}, unavailable(err)
	}
	return s.onEntry(ctx, e, events.OwnerSubjects(ownerID), cmdID, func(e *entry) ([]events.Event, error) {
		return decide(e.owner)
	})
}

// onEntry is the write path every aggregate shares: replay check, decide,
// append with the expected sequence, catch up and retry on conflict.
func (s *Service) onEntry(ctx context.Context, e *entry, filter, cmdID string, decide func(*entry) ([]events.Event, error)) (outcome, error) {
	var out outcome
	if err := s.Store.Fault(); err != nil {
		// Not even a turn: the command that holds it may be waiting for
		// an append the stream will never answer.
		return out, unavailable(err)
	}
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return out, keyledger.Errorf(keyledger.EUnavailable, "%s is busy with other commands; try again", e.id)
	}
	err := s.retrying(ctx, e.id, func() (bool, error) {
		if replayed, keyRef, err := s.applied(ctx, e, cmdID); err != nil || replayed {
			out = outcome{seq: e.seqNow(), replayed: replayed, keyRef: keyRef}
			return false, err
		}
		e.mu.Lock()
		expected := e.seq
		evs, err := decide(e)
		e.mu.Unlock()
		if err != nil && keyledger.ErrorCode(err) != keyledger.EInternal || err == nil && len(evs) == 0 {
			// A refusal (or nothing to do) appends nothing, so no
			// expected sequence checks what it was decided on: another
			// instance may have changed the aggregate a moment ago (the
			// key this one holds as revoked was regenerated there). Read
			// what is newer, with direct gets, and decide again if there
			// was any.
			if cerr := e.catchUp(ctx, s.Store, filter); cerr != nil {
				return false, unavailable(cerr)
			}
			e.mu.Lock()
			if e.seq != expected {
				expected = e.seq
				evs, err = decide(e)
			}
			e.mu.Unlock()
		}
		out = outcome{seq: expected}
		if err != nil || len(evs) == 0 {
			return false, err
		}
		seq, err := s.append(ctx, filter, expected, cmdID, e.id, evs)
		if err != nil {
			retry, err := retryable(err)
			if retry {
				if cerr := e.catchUp(ctx, s.Store, filter); cerr != nil {
					return false, unavailable(cerr)
				}
			}
			return retry, err
		}
		first := seq - uint64(len(evs)) + 1
		e.applyAll(evs, first)
		s.noteWritten(seq)
		if s.Appended != nil && e.owner != nil {
			recs := make([]events.Recorded, len(evs))
			for i, ev := range evs {
				recs[i] = events.Recorded{Seq: first + uint64(i), Subject: events.Subject(ev), Event: ev}
			}
			s.Appended(recs)
		}
		out.seq = seq
		return false, nil
	})
	<-e.turn
	if err != nil {
		return out, err
	}
	// The next command on this aggregate may decide and append while this
	// one waits for the disk: the same fsync then serves both.
	if s.Durable != nil {
		if err := s.Durable(ctx); err != nil {
			return out, keyledger.Errorf(keyledger.EUnavailable, "stored, but not yet known to be on disk: %v", err)
		}
	}
	if s.Appended != nil && e.owner != nil {
		// Backpressure: the projections may fall behind this instance's
		// writes by MaxLag events, no more, or reads would wait ever longer.
		if out.seq <= s.MaxLag {
			return out, nil
		}
		return out, s.wait(ctx, out.seq-s.MaxLag)
	}
	return out, s.wait(ctx, out.seq)
}

// noteWritten records that this instance appended up to seq.
func (s *Service) noteWritten(seq uint64) {
	for {
		cur := s.written.Load()
		if seq <= cur || s.written.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// fresh returns once this instance's projections hold everything it has
// appended: every read of them goes through it, so that a caller sees
// their own writes even though owner commands reply before the projections
// catch up (see Appended).
func (s *Service) fresh(ctx context.Context) error {
	if w := s.written.Load(); w > 0 {
		return s.caughtUp(ctx, w)
	}
	return nil
}

// applied reports whether the command was applied to the aggregate already:
// in memory (not yet projected) or recorded in SQLite.
func (s *Service) applied(ctx context.Context, e *entry, cmdID string) (bool, string, error) {
	if cmdID == "" {
		return false, "", nil
	}
	e.mu.Lock()
	keyRef, ok := e.pending[cmdID]
	e.mu.Unlock()
	if ok {
		return true, keyRef, nil
	}
	keyRef, ok, err := s.Read.CommandOutcome(ctx, e.id, cmdID)
	if err != nil {
		return false, "", unavailable(err)
	}
	return ok, keyRef, nil
}

// seqNow returns the entry's sequence.
func (e *entry) seqNow() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seq
}

// Observe applies a batch of events the projections committed to the
// in-memory decision state. Wire it to the projector's AfterCommit: it keeps
// this instance's decisions current with what other instances append.
func (s *Service) Observe(batch []events.Recorded) { s.state.observe(batch) }

// retrying runs attempt until it no longer asks to be retried: the policy
// every aggregate shares for optimistic appends that lost a race.
func (s *Service) retrying(ctx context.Context, aggregate string, attempt func() (retry bool, err error)) error {
	for n := 1; ; n++ {
		retry, err := attempt()
		if !retry {
			return err
		}
		if n >= s.MaxAttempts {
			return keyledger.Errorf(keyledger.EConflict, "%s changed %d times while deciding; try again", aggregate, n)
		}
		s.backoff(ctx, n)
	}
}

// retryable sorts a failed append: lost to another writer (reload and
// decide again), or the store failing.
func retryable(err error) (bool, error) {
	if errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrDuplicate) {
		return true, nil
	}
	return false, unavailable(err)
}

func (s *Service) append(ctx context.Context, filter string, expected uint64, cmdID, aggregate string, evs []events.Event) (uint64, error) {
	for _, e := range evs {
		e.Base().CommandID = cmdID
	}
	msgID := ""
	if cmdID != "" {
		msgID = cmdID + "@" + aggregate
	}
	return s.Store.Append(ctx, filter, expected, msgID, evs)
}

// backoff spreads out writers racing for one aggregate.
func (s *Service) backoff(ctx context.Context, attempt int) {
	d := time.Duration(rand.IntN(min(attempt, 10))+1) * time.Millisecond
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// wait returns once this instance's projections hold seq, which the caller
// has just stored: the reply to a command reflects the command
// (read-your-writes).
func (s *Service) wait(ctx context.Context, seq uint64) error {
	if err := s.Applied.WaitFor(ctx, seq); err != nil {
		return keyledger.Errorf(keyledger.EUnavailable, "stored, but projections have not caught up: %v", err)
	}
	return nil
}

// caughtUp returns once this instance's projections hold seq, before
// anything is decided or read: a failure stored nothing, and says so (a
// caller told "stored" would look for a key that does not exist).
func (s *Service) caughtUp(ctx context.Context, seq uint64) error {
	if err := s.Applied.WaitFor(ctx, seq); err != nil {
		return keyledger.Errorf(keyledger.EUnavailable, "nothing was changed: this instance's projections are behind the stream "+
			"(%v); /readyz says why", err)
	}
	return nil
}

// unavailable reports a store failure; its details go to the log, not the
// caller, but a cancelled or timed-out request says so.
func unavailable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return keyledger.Errorf(keyledger.EUnavailable, "the event store did not answer in time")
	}
	if errors.Is(err, events.ErrUnanswered) {
		return keyledger.Errorf(keyledger.EUnavailable, "the event store cannot store events until keyledger is restarted "+
			"(a write to its files failed; /readyz and the log say more), and this command's write went unanswered: "+
			"whether it was stored is known after the restart (look before trying again, or resend it with the Idempotency-Key it was sent with)")
	}
	if errors.Is(err, events.ErrUnwritable) {
		return keyledger.Errorf(keyledger.EUnavailable, "the event store cannot store events until keyledger is restarted "+
			"(a write to its files failed; /readyz and the log say more): nothing was changed")
	}
	return fmt.Errorf("event store: %w", err)
}

// settings returns the policy decisions are made on: this instance's
// in-memory copy, kept current by Observe, and checked against the newest
// stored change with one get (a direct get on one server, the stream
// leader's answer on R3, where a follower may be behind), so that a change
// an admin just made on another instance holds for their very next command
// here.
func (s *Service) settings(ctx context.Context) (keyledger.Settings, error) {
	e, err := s.state.settingsEntry(ctx)
	if err != nil {
		return keyledger.Settings{}, unavailable(err)
	}
	latest, err := s.Store.Latest(ctx, events.SubjectSettingsChanged, e.seqNow())
	if err != nil {
		return keyledger.Settings{}, unavailable(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if latest != nil {
		e.apply(*latest)
	}
	return e.settings, nil
}
