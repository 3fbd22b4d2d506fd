package main

import (
	"context"
	"strings"
	"testing"
	"time"
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
