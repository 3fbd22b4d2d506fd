package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// seedKeys stores n active keys spread over owners of at most 999 keys
// each, straight into the event stream as atomic batches (each owner's
// registration and keys together), and returns up to keep of their tokens.
// It is how the benchmark builds large indexes quickly; everything it
// stores is an ordinary event that projections and indexes load as usual.
func seedKeys(ctx context.Context, store *events.Store, n, keep int) ([]string, error) {
	const perOwner = events.MaxBatch - 1
	var tokens []string
	at := time.Now().UTC()
	for made := 0; made < n; {
		owner := ulid.Make().String()
		m := events.Meta{At: at, Actor: "bench"}
		evs := []events.Event{&events.UserRegistered{Meta: m, UserID: owner, Name: "bench-" + owner[20:], Kind: keyledger.KindService, Roles: []string{keyledger.RoleDeveloper}}}
		for i := 0; i < perOwner && made < n; i, made = i+1, made+1 {
			id := ulid.Make().String()
			var secret [32]byte
			if _, err := rand.Read(secret[:]); err != nil {
				return nil, err
			}
			token, hash := keyledger.NewToken(id, secret)
			if len(tokens) < keep {
				tokens = append(tokens, token)
			}
			evs = append(evs, &events.KeyIssued{Meta: m, KeyID: id, Owner: owner, Name: fmt.Sprint("k", i),
				Scopes: []string{"read", "write"}, SecretHash: hash})
		}
		if _, err := store.Append(ctx, events.OwnerSubjects(owner), 0, "", evs); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	return tokens, nil
}
