package commands

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// EventStore is what the service needs of the event store.
type EventStore interface {
	Load(ctx context.Context, filter string) ([]events.Recorded, uint64, error)
	Append(ctx context.Context, filter string, expected uint64, msgID string, evs []events.Event) (uint64, error)
	LastSeq(ctx context.Context) (uint64, error)
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
}

// Applied waits until this instance's projections hold an event.
type Applied interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// Service carries out commands and queries. Fill the fields (NewService sets
// the defaults); it holds no state of its own.
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
	// Usage, if set, counts authenticating with a key as a use of it
	// (auth.go); nil counts nothing.
	Usage UsageCounter
}

// NewService returns a service with the real clock, ULIDs and crypto/rand.
func NewService(store EventStore, read ReadModel, applied Applied) *Service {
	return &Service{
		Store: store, Read: read, Applied: applied, Logger: slog.Default(),
		Now:         func() time.Time { return time.Now().UTC() },
		NewID:       func() string { return ulid.Make().String() },
		Random:      crand.Reader,
		MaxAttempts: 100,
	}
}

// newSecret returns a fresh token for keyID and the hash that is stored.
func (s *Service) newSecret(keyID string) (token, hash string, err error) {
	var secret [32]byte
	if _, err := io.ReadFull(s.Random, secret[:]); err != nil {
		return "", "", fmt.Errorf("secret: %w", err)
	}
	token, hash = keyledger.NewToken(keyID, secret)
	return token, hash, nil
}

// outcome is what one append to an aggregate came to.
type outcome struct {
	seq      uint64 // last sequence stored (or already there)
	replayed bool   // the command had been applied before
	owner    *Owner // the aggregate the decision was made on
}

// onOwner runs decide against the current aggregate of ownerID and appends
// what it returns, reloading and deciding again when another writer got
// there first. A command ID seen before is answered without deciding again.
func (s *Service) onOwner(ctx context.Context, ownerID, cmdID string, decide func(*Owner) ([]events.Event, error)) (outcome, error) {
	filter := events.OwnerSubjects(ownerID)
	var out outcome
	err := s.retrying(ctx, ownerID, func() (bool, error) {
		recs, expected, err := s.Store.Load(ctx, filter)
		if err != nil {
			return false, unavailable(err)
		}
		o := NewOwner(ownerID)
		for _, r := range recs {
			o.Apply(r.Event)
		}
		out = outcome{seq: expected, owner: o}
		if _, seen := o.Commands[cmdID]; seen && cmdID != "" {
			out.replayed = true
			return false, s.wait(ctx, expected)
		}
		evs, err := decide(o)
		if err != nil || len(evs) == 0 {
			return false, err
		}
		seq, err := s.append(ctx, filter, expected, cmdID, ownerID, evs)
		if err != nil {
			return retryable(err)
		}
		out.seq = seq
		return false, s.wait(ctx, seq)
	})
	return out, err
}

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

// wait returns once this instance's projections hold seq: the reply to a
// command reflects the command (read-your-writes).
func (s *Service) wait(ctx context.Context, seq uint64) error {
	if err := s.Applied.WaitFor(ctx, seq); err != nil {
		return keyledger.Errorf(keyledger.EUnavailable, "stored, but projections have not caught up: %v", err)
	}
	return nil
}

// unavailable reports a store failure; its details go to the log, not the
// caller, but a cancelled or timed-out request says so.
func unavailable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return keyledger.Errorf(keyledger.EUnavailable, "the event store did not answer in time")
	}
	return fmt.Errorf("event store: %w", err)
}

// settings returns the policy as stored in the event stream, which is what
// decisions must use (projections may lag on another instance).
func (s *Service) settings(ctx context.Context) (keyledger.Settings, uint64, map[string]bool, error) {
	recs, seq, err := s.Store.Load(ctx, events.SubjectSettings)
	if err != nil {
		return keyledger.Settings{}, 0, nil, unavailable(err)
	}
	cur, seen := keyledger.DefaultSettings(), map[string]bool{}
	for _, r := range recs {
		if e, ok := r.Event.(*events.SettingsChanged); ok {
			cur = e.Settings
			seen[e.CommandID] = true
		}
	}
	return cur, seq, seen, nil
}
