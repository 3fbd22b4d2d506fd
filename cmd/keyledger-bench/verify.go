package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go"
)

// verification measures the read side the README's table has always
// recorded, on its own embedded instance: the in-memory index, POST
// /v1/verify against a bare net/http handler, keyledger.verify over NATS,
// and revoke reply → notification.
func (b *Bench) verification(ctx context.Context) error {
	b.rep.note("\n== verify: embedded NATS, %s keys seeded into the stream", thousands(float64(b.Keys)))
	t, err := b.startTarget(ctx, "embedded")
	if err != nil {
		return err
	}
	defer t.close()
	t.name = "verify"
	if err := t.prepare(ctx); err != nil {
		return err
	}
	store, err := openStore(ctx, t.svc)
	if err != nil {
		return err
	}
	var keys []seededKey
	const per = 999
	_, _, err = seedOwners(ctx, store, (b.Keys+per-1)/per, per, func(k seededKey) {
		if len(keys) < b.Keys {
			keys = append(keys, k)
		}
	})
	if err != nil {
		return err
	}
	if err := t.waitSeen(ctx, keys[len(keys)-1].keyID, 2*time.Minute); err != nil {
		return err
	}
	if err := b.inProcess(keys); err != nil {
		return err
	}
	body := fmt.Sprintf(`{"key":%q,"scope":"read"}`, keys[0].token)
	if err := b.http(ctx, t, body); err != nil {
		return err
	}
	nl, err := b.natsVerify(ctx, t, []byte(body))
	if err != nil {
		return err
	}
	b.rep.add(t.name, fmt.Sprintf("keyledger.verify over NATS, %d concurrent requests", b.NATSConns), nl.String(), nan, "≥ 30,000 req/s", atLeast(nl.rps(), 30000))
	return b.revocations(ctx, t)
}

// inProcess loads the seeded keys into an index of the bench's own (the
// verifier package, as a gateway embeds it) and verifies on one goroutine.
func (b *Bench) inProcess(keys []seededKey) error {
	x := verifier.NewIndex()
	x.SetPolicy(keyledger.Settings{Enabled: true, InactivityExpiry: keyledger.None})
	now := time.Now().UTC()
	for _, k := range keys {
		x.Put(&keyledger.Credential{KeyID: k.keyID, Owner: k.owner, SecretHash: k.secretHash, Status: keyledger.StatusActive,
			OwnerRoles: []string{keyledger.RoleDeveloper}, OwnerActive: true, Scopes: []string{"read", "write"}, CreatedAt: now})
	}
	if r := x.Verify(keys[0].token, "read", ""); !r.Valid {
		return fmt.Errorf("the bench's index answers %+v for a seeded key", r)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, start := 0, time.Now()
	for time.Since(start) < b.Duration {
		for range 10000 {
			x.Verify(keys[n%len(keys)].token, "read", "")
			n++
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	rate := float64(n) / elapsed.Seconds()
	mallocs := float64(after.Mallocs-before.Mallocs) / float64(n)
	// Mallocs counts the whole bench process (the R3 cluster's servers are
	// stopped by now); the allocation-free claim itself is BenchmarkVerify's
	// and TestVerifyAllocatesNothing's.
	b.rep.add("verify", "in-process verify, one goroutine (Index.Verify)", fmt.Sprintf("%s/s, %.2f process-wide mallocs/op", thousands(rate), mallocs),
		nan, "≥ 1,000,000/s", atLeast(rate, 1e6))
	return nil
}

// natsVerify sends keyledger.verify requests from NATSConns concurrent
// requesters over four connections.
func (b *Bench) natsVerify(ctx context.Context, t *target, body []byte) (result, error) {
	var ncs []*nats.Conn
	for range 4 {
		nc, err := connectClient(t.url, "")
		if err != nil {
			return result{}, err
		}
		defer nc.Close()
		ncs = append(ncs, nc)
	}
	var next atomic.Int64
	return closedLoop(ctx, b.NATSConns, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		nc := ncs[next.Add(1)%int64(len(ncs))]
		var msg *nats.Msg
		took, err := timed(func() (err error) {
			msg, err = nc.RequestWithContext(ctx, "keyledger.verify", body)
			return err
		})
		if err == nil && !bytes.Contains(msg.Data, []byte(`"valid":true`)) {
			err = fmt.Errorf("unexpected answer %.200s", msg.Data)
		}
		return took, err
	}), nil
}

// revocations issues and revokes keys, timing from the revoke reply to the
// notification at a subscriber, and verifying on the same instance at once
// after each reply.
func (b *Bench) revocations(ctx context.Context, t *target) error {
	sc, err := connectClient(t.url, "")
	if err != nil {
		return err
	}
	defer sc.Close()
	type arrival struct {
		keyID string
		at    time.Time
	}
	arrived := make(chan arrival, b.Revokes+1)
	if _, err := sc.Subscribe("keyledger.notify.revoked.*", func(msg *nats.Msg) {
		select {
		case arrived <- arrival{msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:], time.Now()}:
		default:
		}
	}); err != nil {
		return err
	}
	if err := sc.Flush(); err != nil {
		return err
	}
	owner, err := t.register(ctx, "bench-revocations")
	if err != nil {
		return err
	}
	var lat []time.Duration
	stale, failed := 0, 0
	var first error
	for i := range b.Revokes {
		k, err := t.issue(ctx, 0, owner, fmt.Sprint("revoke-", i))
		if err == nil {
			err = t.revoke(ctx, 0, k.KeyID)
		}
		if err != nil {
			if failed++; first == nil {
				first = err
			}
			continue
		}
		replied := time.Now()
		v, err := t.apis[0].Conn.RequestWithContext(ctx, "keyledger.verify", []byte(`{"key":"`+k.Token+`"}`))
		if err != nil {
			return fmt.Errorf("verify after revoke: %w", err)
		}
		if bytes.Contains(v.Data, []byte(`"valid":true`)) {
			stale++
		}
		select {
		case a := <-arrived:
			if a.keyID != k.KeyID {
				return fmt.Errorf("notification for %s while waiting for %s", a.keyID, k.KeyID)
			}
			lat = append(lat, max(0, a.at.Sub(replied))) // 0: it arrived before the reply
		case <-time.After(5 * time.Second):
			return fmt.Errorf("no notification for %s", k.KeyID)
		}
	}
	r := result{samples: sorted(lat)}
	measured := fmt.Sprintf("p50 %s, p99 %s over %d revokes", r.pct(50).Round(time.Microsecond), r.pct(99).Round(time.Microsecond), len(lat))
	if failed > 0 {
		measured += fmt.Sprintf(", %d FAILED, first: %v", failed, first)
	}
	p99 := float64(r.pct(99))
	if len(lat) == 0 {
		p99 = nan
	}
	b.rep.add(t.name, "revoke reply → notification received", measured, nan, "p99 ≤ 5 ms", atMost(p99, float64(5*time.Millisecond)))
	ok := stale == 0 && len(lat) > 0
	b.rep.add(t.name, "verify answered valid after the revoke reply", fmt.Sprintf("%d of %d", stale, len(lat)), nan, "0", &ok)
	return nil
}
