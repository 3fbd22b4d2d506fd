package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// TestAuditCommands runs the audit subcommands against a real server: list
// and trace show who did what from where, a revocation's receipt checks
// offline and fails once altered, and verify passes an intact trail and names
// the seq of an edited row.
func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Stdout, m.Logger = io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil))
	// No periodic checkpoint comes during the test: a receipt must be
	// signed on demand.
	m.CheckpointEvery, m.CheckpointInterval = 1_000_000, time.Hour
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	admin := filepath.Join(dir, "admin.token")
	if fi, err := os.Stat(filepath.Join(dir, "audit.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit.key: %v %v; want mode 0600", err, fi)
	}
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	key := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "ci", "--json"))
	mustCLI(t, m, admin, "key", "update", key.KeyID, "--name", "ci-old")
	mustCLI(t, m, admin, "key", "revoke", key.KeyID, "--reason", "leaked")

	trace := mustCLI(t, m, admin, "audit", "trace", key.KeyID)
	for _, want := range []string{"key.issued", "key.renamed", `"before":{"name":"ci"`, "key.revoked", `{"reason":"leaked"}`, "nats"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
	page := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "key.revoked", "--json"))
	if len(page.Entries) != 1 || page.Entries[0].KeyID != key.KeyID || page.Entries[0].ActorKey == "" || page.Entries[0].LeafHash == "" {
		t.Fatalf("revocations: %+v", page.Entries)
	}

	for _, bad := range [][]string{
		{"audit", "list", "--key", "*"},
		{"audit", "list", "--key", "a.b.>"},
		{"audit", "list", "--since", "yesterday"},
		{"audit", "list", "--limit", "0"},
		{"audit", "list", "--cursor", "ünï"},
		{"audit", "prove", "0"},
		{"audit", "prove", "x y"},
		{"audit", "trace", "kl_notanid"},
	} {
		mustFail(t, m, admin, "invalid", bad...)
	}
	pub := filepath.Join(t.TempDir(), "keyledger.pub")
	writeFile(t, pub, mustCLI(t, m, admin, "audit", "pubkey", "--data", dir))
	receipt := mustCLI(t, m, admin, "audit", "receipt", key.KeyID)
	// A receipt for an event after that checkpoint: another is signed,
	// no sooner than a second after the first.
	mustCLI(t, m, admin, "key", "issue", "--name", "later")
	if out := mustCLI(t, m, admin, "audit", "prove", fmt.Sprint(page.Entries[0].Seq+2)); !strings.Contains(out, "checkpoint") {
		t.Fatalf("audit prove of the newest event: %s", out)
	}
	cps := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "audit.checkpoint", "--json"))
	if len(cps.Entries) != 2 {
		t.Fatalf("%d checkpoints after two receipts signed on demand; want 2", len(cps.Entries))
	}
	if d := cps.Entries[0].At.Sub(cps.Entries[1].At); d < time.Second {
		t.Fatalf("two checkpoints signed on demand %s apart; want at least 1 s", d)
	}
	// A checkpoint waits for the next one: asking for the newest event, a
	// checkpoint, must not append another each time.
	mustFail(t, m, admin, "unavailable", "audit", "prove", fmt.Sprint(cps.Entries[0].Seq))
	if again := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "audit.checkpoint", "--json")); len(again.Entries) != 2 {
		t.Fatalf("%d checkpoints after proving the newest checkpoint; want still 2", len(again.Entries))
	}
	mustFail(t, m, admin, "not_found", "audit", "prove", "999999")
	file := filepath.Join(t.TempDir(), "receipt.json")
	writeFile(t, file, receipt)
	if out, errOut, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", file, "--public-key", pub); code != 0 || !strings.Contains(out, "receipt holds") {
		t.Fatalf("check-receipt offline: exit %d %s %s", code, out, errOut)
	}
	altered := filepath.Join(t.TempDir(), "altered.json")
	writeFile(t, altered, strings.Replace(receipt, `"seq": `, `"seq": 1`, 1))
	if _, _, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", altered, "--public-key", pub); code == 0 {
		t.Fatal("an altered receipt holds")
	}
	if _, _, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", file, "--public-key", filepath.Join(dir, "audit.key")); code == 0 {
		t.Fatal("check-receipt took a private key file")
	}

	if _, errOut, code := cli(t, m, admin, "audit", "verify", "--data", dir); code == 0 || !strings.Contains(errOut, "gateway credential") {
		t.Fatalf("verify with an API key (cannot read the stream): exit %d %s", code, errOut)
	}
	cred := filepath.Join(t.TempDir(), "gw.cred")
	var gwOut, gwErr strings.Builder
	if code := Run(context.Background(), []string{"gateway-credentials", "--name", "auditor", "--data", dir, "--out", cred}, &gwOut, &gwErr); code != 0 {
		t.Fatalf("gateway-credentials: %d %s", code, gwErr.String())
	}
	admin = cred // verify reads the stream with a gateway credential
	if out := mustCLI(t, m, admin, "audit", "verify", "--data", dir); !strings.Contains(out, "audit trail holds") {
		t.Fatalf("verify: %s", out)
	}
	if _, err := m.db.SQL().Exec(`UPDATE audit_events SET detail = '{"reason":"routine"}' WHERE action = 'key.revoked'`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, m, admin, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "DIVERGES at seq "+itoa(page.Entries[0].Seq)+" (row_content)") {
		t.Fatalf("verify of an edited row: exit %d: %s", code, errOut)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
