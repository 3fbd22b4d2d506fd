package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// The seeder is the bench's fast path to large states: it appends ordinary
// events (UserRegistered, KeyIssued) straight to the KEYLEDGER stream with
// the service's credentials, in atomic batches, instead of one command per
// key. keyledger's projections, index and aggregates load them as they load
// anything else.

// openStore binds to the running server's event stream; it never creates
// or changes the stream.
func openStore(ctx context.Context, nc *nats.Conn) (*events.Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := events.NewStore(js)
	if err := s.Bind(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// seededKey is a key the seeder stored, with its token.
type seededKey struct {
	owner, keyID, token, secretHash string
}

// newKey returns a KeyIssued for owner with a fresh ID and secret, and the
// token a caller would have been shown.
func newKey(m events.Meta, owner, name string) (*events.KeyIssued, string, error) {
	id := ulid.Make().String()
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, "", err
	}
	token, hash := keyledger.NewToken(id, secret)
	return &events.KeyIssued{Meta: m, KeyID: id, Owner: owner, Name: name, Scopes: []string{"read", "write"}, SecretHash: hash}, token, nil
}

// seedOwners registers owners new service accounts holding perOwner active
// keys each, several owners to an atomic batch of at most events.MaxBatch
// events. keep is called for every key stored (it may be nil). It returns
// the owners' IDs and the stream sequence of the last event stored.
func seedOwners(ctx context.Context, store *events.Store, owners, perOwner int, keep func(seededKey)) ([]string, uint64, error) {
	if perOwner+1 > events.MaxBatch {
		return nil, 0, fmt.Errorf("seed: %d keys per owner do not fit one batch", perOwner)
	}
	m := events.Meta{At: time.Now().UTC(), Actor: "keyledger-bench"}
	var ids []string
	var batch []events.Event
	var kept []seededKey
	var last uint64
	flush := func() (err error) {
		if len(batch) == 0 {
			return nil
		}
		first := batch[0].OwnerID()
		if last, err = store.Append(ctx, events.OwnerSubjects(first), 0, "", batch); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if keep != nil {
			for _, k := range kept {
				keep(k)
			}
		}
		batch, kept = batch[:0], kept[:0]
		return nil
	}
	for range owners {
		if len(batch)+perOwner+1 > events.MaxBatch {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
		owner := ulid.Make().String()
		ids = append(ids, owner)
		batch = append(batch, &events.UserRegistered{Meta: m, UserID: owner, Name: "bench-" + owner[16:],
			Kind: keyledger.KindService, Roles: []string{keyledger.RoleDeveloper}})
		for i := range perOwner {
			k, token, err := newKey(m, owner, fmt.Sprint("seeded-", i))
			if err != nil {
				return nil, 0, err
			}
			batch = append(batch, k)
			kept = append(kept, seededKey{owner, k.KeyID, token, k.SecretHash})
		}
	}
	err := flush()
	return ids, last, err
}

// waitSeen waits until the server answers a query for keyID: the seeded
// events before it have reached its projections.
func (t *target) waitSeen(ctx context.Context, keyID string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := t.call(ctx, "query.key", map[string]string{"key_id": keyID}, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, keyledger.ErrNotFound) && !errors.Is(err, keyledger.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("seeded key %s not seen after %s: %w", keyID, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
