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
		always     bool
		every      time.Duration
	}{
		{"default_syncs_every_write", "", true, 0},
		{"interval", "1m", false, time.Minute},
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
			if cfg.SyncAlways != tc.always || (!tc.always && cfg.SyncInterval != tc.every) {
				t.Fatalf("embedded JetStream: sync always %v every %s; want %v %s", cfg.SyncAlways, cfg.SyncInterval, tc.always, tc.every)
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
