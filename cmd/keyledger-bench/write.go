package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/keyledger/keyledger/events"
)

// perOwner is how many keys a load issues to one owner before it moves to a
// new one, under the policy's limit of 1,000 active keys.
const perOwner = 900

// issued is the reply to key issue that the bench uses.
type issued struct {
	KeyID string `json:"key_id"`
	Token string `json:"token"`
}

// issue issues one key to owner as the admin, from load client i.
func (t *target) issue(ctx context.Context, i int, owner, name string) (issued, error) {
	var k issued
	err := t.callAs(ctx, i, "cmd.key.issue", map[string]any{"owner": owner, "name": name}, &k)
	return k, err
}

// revoke revokes one key as the admin, from load client i.
func (t *target) revoke(ctx context.Context, i int, keyID string) error {
	var res struct {
		Revoked []string `json:"revoked"`
		Failed  []struct {
			KeyID string `json:"key_id"`
			Code  string `json:"code"`
		} `json:"failed"`
	}
	if err := t.callAs(ctx, i, "cmd.key.revoke", map[string]any{"key_ids": []string{keyID}}, &res); err != nil {
		return err
	}
	if len(res.Failed) > 0 || len(res.Revoked) != 1 {
		return fmt.Errorf("revoke %s: %+v", keyID, res)
	}
	return nil
}

// issueManyOwners issues keys from Clients clients, each on an owner of
// its own (a new one every perOwner keys; registering it is not timed),
// and returns the issued key IDs per client for the revoke load.
func (b *Bench) issueManyOwners(ctx context.Context, t *target) ([][]string, result, error) {
	owners := make([]string, b.Clients)
	counts := make([]int, b.Clients)
	keys := make([][]string, b.Clients)
	for i := range owners {
		id, err := t.register(ctx, fmt.Sprintf("bench-%s-%d", t.name, i))
		if err != nil {
			return nil, result{}, fmt.Errorf("register: %w", err)
		}
		owners[i] = id
	}
	res := closedLoop(ctx, b.Clients, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		if counts[i] >= perOwner {
			id, err := t.register(ctx, fmt.Sprintf("bench-%s-%d-%d", t.name, i, len(keys[i])))
			if err != nil {
				return 0, err
			}
			owners[i], counts[i] = id, 0
		}
		counts[i]++
		var k issued
		took, err := timed(func() (err error) {
			k, err = t.issue(ctx, i, owners[i], fmt.Sprintf("many-%d-%d", i, len(keys[i])))
			return err
		})
		if err == nil {
			keys[i] = append(keys[i], k.KeyID)
		}
		return took, err
	})
	return keys, res, nil
}

// issueOneOwner issues keys from Clients clients all on one owner, moving
// all of them to a new owner every perOwner keys.
func (b *Bench) issueOneOwner(ctx context.Context, t *target) (result, error) {
	owner, err := t.register(ctx, "bench-"+t.name+"-shared")
	if err != nil {
		return result{}, fmt.Errorf("register: %w", err)
	}
	var mu sync.Mutex
	count, next := 0, 0
	res := closedLoop(ctx, b.Clients, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		mu.Lock()
		if count >= perOwner {
			id, err := t.register(ctx, fmt.Sprintf("bench-%s-shared-%d", t.name, next))
			if err != nil {
				mu.Unlock()
				return 0, err
			}
			owner, count = id, 0
		}
		count, next = count+1, next+1
		o, name := owner, fmt.Sprintf("one-%d", next)
		mu.Unlock()
		return timed(func() error {
			_, err := t.issue(ctx, i, o, name)
			return err
		})
	})
	return res, nil
}

// revokeLoad revokes, from Clients clients, the keys each issued in the
// many-owners load, one key per command. Its pool is bounded, so its
// warm-up is a count, not a time: a first short load is discarded.
func (b *Bench) revokeLoad(ctx context.Context, t *target, keys [][]string) result {
	do := func(ctx context.Context, i int) (time.Duration, error) {
		if len(keys[i]) == 0 {
			return 0, errStop
		}
		id := keys[i][0]
		keys[i] = keys[i][1:]
		return timed(func() error { return t.revoke(ctx, i, id) })
	}
	closedLoop(ctx, b.Clients, 0, b.Warmup, 5*b.Clients, do)
	return closedLoop(ctx, b.Clients, 0, b.Duration, 0, do)
}

// bigOwner compares the issue latency of an owner holding 1,000 keys (999
// active, one revoked; seeded) with that of an owner holding one. One
// client alternates between them; each timed issue is followed by an
// untimed revoke of the new key, so both owners keep their size.
func (b *Bench) bigOwner(ctx context.Context, t *target) error {
	store, err := openStore(ctx, t.svc)
	if err != nil {
		return err
	}
	small, _, err := seedOwners(ctx, store, 1, 1, nil)
	if err != nil {
		return err
	}
	var first string
	big, seq, err := seedOwners(ctx, store, 1, events.MaxBatch-1, func(k seededKey) {
		if first == "" {
			first = k.keyID
		}
	})
	if err != nil {
		return err
	}
	m := events.Meta{At: time.Now().UTC(), Actor: "keyledger-bench"}
	k, _, err := newKey(m, big[0], "seeded-last")
	if err != nil {
		return err
	}
	if _, err := store.Append(ctx, events.OwnerSubjects(big[0]), seq, "", []events.Event{
		&events.KeyRevoked{Meta: m, KeyID: first, Owner: big[0], Reason: "bench"}, k}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := t.waitSeen(ctx, k.KeyID, time.Minute); err != nil {
		return err
	}
	var lat [2][]time.Duration
	errs, deadline := 0, time.Now().Add(b.Warmup+4*b.Duration)
	var firstErr error
	for n := 0; n < b.Samples+5 && time.Now().Before(deadline); n++ {
		for j, owner := range []string{small[0], big[0]} {
			var k issued
			took, err := timed(func() (err error) {
				k, err = t.issue(ctx, 0, owner, fmt.Sprint("sample-", n))
				return err
			})
			if err == nil {
				err = t.revoke(ctx, 0, k.KeyID)
			}
			if err != nil {
				if errs++; firstErr == nil {
					firstErr = err
				}
				continue
			}
			if n >= 5 { // the first five rounds warm up
				lat[j] = append(lat[j], took)
			}
		}
	}
	one, thousand := result{samples: sorted(lat[0])}, result{samples: sorted(lat[1])}
	ratio := math.NaN()
	if len(one.samples) > 0 && len(thousand.samples) > 0 {
		ratio = float64(thousand.pct(50)) / float64(one.pct(50))
	}
	measured := fmt.Sprintf("%.2f (p50 %s with 1,000 keys, %s with 1; %d and %d samples)",
		ratio, ms(thousand.pct(50)), ms(one.pct(50)), len(thousand.samples), len(one.samples))
	if errs > 0 {
		measured += fmt.Sprintf(", %d FAILED, first: %v", errs, firstErr)
	}
	b.rep.add(t.name, "key issue p50, owner with 1,000 keys ÷ with 1", measured, math.NaN(), "≤ 1.2", atMost(ratio, 1.2))
	return nil
}
