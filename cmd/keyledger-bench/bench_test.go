package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchEndToEnd runs a tiny bench of the embedded setup against a
// keyledger binary built from this module, as a user would run it.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs keyledger")
	}
	bin := filepath.Join(t.TempDir(), "keyledger")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keyledger/keyledger/cmd/keyledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var out, errout bytes.Buffer
	b := NewBench()
	b.Bin, b.Out, b.Errout = bin, &out, &errout
	b.Setups, b.Clients, b.Warmup, b.Duration = []string{"embedded"}, 4, 100*time.Millisecond, 500*time.Millisecond
	b.Samples, b.Soak, b.Verify = 3, 20, false
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.Run(ctx); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errout.String())
	}
	table := out.String()[strings.Index(out.String(), "| setup |"):]
	for _, row := range []string{
		"| embedded | bare JetStream append, 4 clients on 4 subjects, before |",
		"| embedded | bare JetStream append, 4 clients on 4 subjects, after |",
		"| embedded | relay: request → the same append → reply, 4 clients |",
		"| embedded | key issue, 4 clients on 4 owners |",
		"| embedded | key issue, 4 clients on 4 owners, ÷ relay |",
		"| embedded | key issue, 4 clients on one owner |",
		"| embedded | key revoke, 4 clients on 4 owners |",
		"| embedded | key issue p50, owner with 1,000 keys ÷ with 1 |",
		"| embedded | bare append p50, filter over 1,000 subjects ÷ over 1 |",
		"| soak | 20 consecutive commands (issue, revoke) |",
		"| soak | stream consumers before → after the soak |",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("table lacks %q", row)
		}
	}
	for _, line := range strings.Split(table, "\n") {
		if (strings.Contains(line, "bare JetStream append") || strings.Contains(line, "relay: ")) && (strings.Contains(line, "(0 ok") || strings.Contains(line, "?/s")) {
			t.Errorf("the bare ceiling measured nothing: %s", line)
		}
	}
	if strings.Contains(table, "kl_") {
		t.Errorf("a token reached the report:\n%s", table)
	}
	t.Log("\n" + table)
}
