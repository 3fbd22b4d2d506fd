package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// soakOwners is how many owners the soak's commands rotate over.
const soakOwners = 64

// runSoak measures the soak on an instance of its own (embedded, sync on
// every write), so that the loads before it leave nothing it counts.
func (b *Bench) runSoak(ctx context.Context) error {
	b.rep.note("\n== soak: embedded NATS, sync on every write, %s consecutive commands", thousands(float64(b.Soak)))
	t, err := b.startTarget(ctx, "embedded")
	if err != nil {
		return err
	}
	defer t.close()
	t.name = "soak"
	if err := t.prepare(ctx); err != nil {
		return err
	}
	err = b.soak(ctx, t)
	if hint := t.logHint(); hint != "" {
		b.rep.note("soak: the server's last warning: %s", hint)
	}
	return err
}

// soak sends Soak commands one after another (issue a key, revoke it, over
// soakOwners owners) and reports the failures and the consumers on the
// streams before and after: a command must leave nothing behind.
func (b *Bench) soak(ctx context.Context, t *target) error {
	owners := make([]string, soakOwners)
	for i := range owners {
		id, err := t.register(ctx, fmt.Sprintf("bench-soak-%d", i))
		if err != nil {
			return fmt.Errorf("register: %w", err)
		}
		owners[i] = id
	}
	before, err := consumers(ctx, t)
	if err != nil {
		return err
	}
	sent, failed := 0, 0
	var first error
	fail := func(err error) {
		if failed++; first == nil {
			first = err
		}
	}
	start := time.Now()
	deadline := start.Add(b.SoakLimit)
	for sent < b.Soak && time.Now().Before(deadline) && ctx.Err() == nil {
		owner := owners[(sent/2)%soakOwners]
		k, err := t.issue(ctx, 0, owner, fmt.Sprint("soak-", sent))
		sent++
		if err != nil {
			fail(err)
			continue
		}
		if sent < b.Soak {
			sent++
			if err := t.revoke(ctx, 0, k.KeyID); err != nil {
				fail(err)
			}
		}
		if sent%10000 < 2 {
			fmt.Fprintf(b.Errout, "soak: %d commands, %d failed, %s\n", sent, failed, time.Since(start).Round(time.Second))
		}
	}
	took := time.Since(start)
	after, err := consumers(ctx, t)
	if err != nil {
		return err
	}
	measured := fmt.Sprintf("%d of %d sent in %s (%s/s), %d failed", sent, b.Soak, took.Round(10*time.Millisecond), thousands(float64(sent)/took.Seconds()), failed)
	if first != nil {
		measured += fmt.Sprintf(", first: %v", first)
	}
	ok := failed == 0 && sent == b.Soak
	b.rep.add(t.name, fmt.Sprintf("%d consecutive commands (issue, revoke)", b.Soak), measured, nan, "0 errors", &ok)
	same := before == after
	b.rep.add(t.name, "stream consumers before → after the soak", fmt.Sprintf("%s → %s", before, after), nan, "unchanged", &same)
	return nil
}

// consumers returns the consumer count of each of keyledger's streams, read
// from JetStream stream info with the service's credentials.
// The answer reads "KEYLEDGER 1, KEYLEDGER_USAGE 1".
func consumers(ctx context.Context, t *target) (string, error) {
	js, err := jetstream.New(t.svc)
	if err != nil {
		return "", err
	}
	var out []string
	for _, name := range []string{"KEYLEDGER", "KEYLEDGER_USAGE"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return "", fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return "", fmt.Errorf("stream %s: %w", name, err)
		}
		out = append(out, fmt.Sprintf("%s %d", name, info.State.Consumers))
	}
	return strings.Join(out, ", "), nil
}
