package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The million figures: 1,000,000 keys over 100,000 owners (10 each),
// seeded straight into the stream of an embedded instance; then a fresh
// `keyledger serve` on that data is timed to ready, commands touch many
// owners, and the process's resident memory is read from /proc.
const (
	millionOwners   = 100_000
	millionPerOwner = 10
	touchedOwners   = 10_000 // owners one command each touches after start-up
	ownersFile      = "bench-owners.txt"
)

func (b *Bench) million(ctx context.Context) error {
	b.rep.note("\n== million: %s keys over %s owners, embedded NATS", thousands(millionOwners*millionPerOwner), thousands(millionOwners))
	dir := b.MillionDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "keyledger-bench-1m-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	data := filepath.Join(dir, "data")
	owners, err := readOwners(filepath.Join(dir, ownersFile))
	if err != nil {
		if owners, err = b.seedMillion(ctx, dir, data); err != nil {
			return err
		}
	}
	addr, err := freeLoopback()
	if err != nil {
		return err
	}
	t := &target{name: "million", dataDir: data, replicas: 1, url: "nats://" + addr}
	defer t.close()
	began := time.Now()
	if err := b.openTarget(ctx, t, []string{"serve", "--data", data, "--nats-listen", addr}); err != nil {
		return err
	}
	ready := time.Since(began)
	rssReady := t.proc.rssMB()
	b.rep.add("million", "1,000,000 active keys: start-up to ready", ready.Round(10*time.Millisecond).String(), nan, "≤ 10 s", atMost(ready.Seconds(), 10))
	indexMB, mb := "not in the server's log", nan
	if m := regexp.MustCompile(`verify index loaded" keys=(\d+) .*index_mb=(\d+)`).FindStringSubmatch(t.proc.logs.String()); m != nil {
		indexMB = fmt.Sprintf("%s MB for %s keys (from the server's log)", m[2], m[1])
		mb, _ = strconv.ParseFloat(m[2], 64)
	}
	b.rep.add("million", "1,000,000 active keys: index memory", indexMB, nan, "≤ 300 MB", atMost(mb, 300))
	b.rep.add("million", "whole serve process at ready, VmRSS", fmt.Sprintf("%d MB", rssReady), nan, "", nil)

	// Commands on many owners: whatever an instance keeps per owner to
	// decide on is now loaded for touchedOwners of them.
	step := max(1, len(owners)/touchedOwners)
	run := fmt.Sprint("touched-", time.Now().UnixNano()) // a reused --million-dir already has earlier runs' keys
	sent, failed := 0, 0
	var first error
	start := time.Now()
	for i := 0; i < len(owners) && sent < touchedOwners; i += step {
		sent++
		if _, err := t.issue(ctx, 0, owners[i], run); err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	measured := fmt.Sprintf("%d MB after %d issues on %d owners in %s", t.proc.rssMB(), sent, sent, time.Since(start).Round(time.Second))
	if failed > 0 {
		measured += fmt.Sprintf(" (%d FAILED, first: %v)", failed, first)
	}
	b.rep.add("million", "whole serve process after commands, VmRSS", measured, nan, "", nil)
	return nil
}

// seedMillion starts an embedded instance on data, seeds the keys into its
// stream, waits until its projections hold them, and stops it. The owners'
// IDs are written to dir so that --million-dir can reuse the data.
func (b *Bench) seedMillion(ctx context.Context, dir, data string) ([]string, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	t := &target{name: "million", dataDir: data, replicas: 1, url: "nats://" + addr}
	defer t.close()
	if err := b.openTarget(ctx, t, []string{"serve", "--data", data, "--nats-listen", addr}); err != nil {
		return nil, err
	}
	if err := t.prepare(ctx); err != nil {
		return nil, err
	}
	store, err := openStore(ctx, t.svc)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var last string
	owners, _, err := seedOwners(ctx, store, millionOwners, millionPerOwner, func(k seededKey) { last = k.keyID })
	if err != nil {
		return nil, err
	}
	stored := time.Since(start)
	if err := t.waitSeen(ctx, last, 15*time.Minute); err != nil {
		return nil, err
	}
	b.rep.note("seeded %s keys in %s, projected in %s", thousands(millionOwners*millionPerOwner), stored.Round(time.Second), time.Since(start).Round(time.Second))
	return owners, os.WriteFile(filepath.Join(dir, ownersFile), []byte(strings.Join(owners, "\n")+"\n"), 0o600)
}

func readOwners(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	owners := strings.Fields(string(b))
	if len(owners) == 0 {
		return nil, fmt.Errorf("%s: no owners", path)
	}
	return owners, nil
}
