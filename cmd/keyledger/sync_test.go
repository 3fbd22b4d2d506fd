package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
)

func TestNATSSyncFlag(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		always     bool // nats-server fsyncs each message
		every      time.Duration
		group      bool // keyledger fsyncs for a group of writes
	}{
		{"default_syncs_every_write_in_groups", "", false, 0, true},
		{"always_is_the_default", "always", false, 0, true},
		{"each_has_the_server_sync_every_message", "each", true, 0, false},
		{"interval", "1m", false, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMain(t.TempDir(), nil)
			args := []string{"--data", m.DataDir, "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}
			if tc.flag != "" {
				args = append(args, "--nats-sync", tc.flag)
			}
			if err := m.ParseFlags(args); err != nil {
				t.Fatal(err)
			}
			run(t, m)
			cfg := m.ns.JetStreamConfig()
			if cfg.SyncAlways != tc.always || (tc.every != 0 && cfg.SyncInterval != tc.every) {
				t.Fatalf("embedded JetStream: sync always %v every %s; want %v %s", cfg.SyncAlways, cfg.SyncInterval, tc.always, tc.every)
			}
			if (m.syncer != nil) != tc.group || (m.service.Durable != nil) != tc.group {
				t.Fatalf("group commit: syncer %v, commands wait for it %v; want %v", m.syncer != nil, m.service.Durable != nil, tc.group)
			}
		})
	}
	for _, bad := range []string{"never", "0s", "-1m", "1 m", "*", "always,1m"} {
		m := newMain(t.TempDir(), func(m *Main) { m.NATSSync = bad })
		if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--nats-sync") {
			m.Close()
			t.Fatalf("--nats-sync %q: got %v", bad, err)
		}
	}
	m := newMain(t.TempDir(), func(m *Main) { m.NATSSync, m.NATSURL = "1s", "nats://127.0.0.1:1" })
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "embedded server only") {
		m.Close()
		t.Fatalf("--nats-sync with --nats: got %v", err)
	}
}

// Commands at once share fsyncs: 32 callers issuing 640 keys take far
// fewer rounds than commands (a round per 4-6 commands on this project's
// VM; the rest of a command's time is CPU, so only some wait for the disk
// at once, and a command whose write a finished round already measured
// waits for none). With one fsync per command (what sync_always does) they
// would take one each.
func TestConcurrentCommandsShareFsyncs(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled", "--max-active-keys", "1000")
	tok, err := os.ReadFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor, err := m.service.Authenticate(ctx, "Bearer "+strings.TrimSpace(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for i := range 32 {
		owners = append(owners, fmt.Sprint("svc-", i))
		mustCLI(t, m, admin, "user", "add", owners[i], "--kind", "service")
	}
	calls0, rounds0 := m.syncer.Stats()
	var wg sync.WaitGroup
	for i, owner := range owners {
		wg.Go(func() {
			for j := range 20 {
				if _, err := m.service.IssueKey(ctx, actor, "", commands.IssueKey{Name: fmt.Sprint("k-", i, "-", j), Owner: owner}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	calls1, rounds1 := m.syncer.Stats()
	calls, rounds := calls1-calls0, rounds1-rounds0
	if rounds == 0 || rounds*5 > 640*4 {
		t.Fatalf("640 concurrent issues took %d fsync rounds (%d waits); want 512 or fewer", rounds, calls)
	}
	t.Logf("%d waits, %d rounds", calls, rounds)
}
