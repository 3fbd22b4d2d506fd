package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
)

// MustRunMain starts the real server on free ports in a temporary data
// directory (or dir, if given) and stops it when the test ends; each of set
// may change its configuration before it starts.
func MustRunMain(tb testing.TB, dir string, set ...func(*Main)) *Main {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Stdout, m.Logger = io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, f := range set {
		f(m)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	rememberDataDir(m.ClientURL(), m.DataDir)
	return m
}

// cli runs one client invocation against m with the token in tokenFile.
func cli(t *testing.T, m *Main, tokenFile string, args ...string) (string, string, int) {
	t.Helper()
	return cliAt(m.ClientURL(), tokenFile, args...)
}

// cliAt runs one client invocation against the server at url.
func cliAt(url, tokenFile string, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	args = append(args, "--server", url, "--token-file", tokenFile)
	code := Run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustCLI runs an invocation that must succeed.
func mustCLI(t *testing.T, m *Main, tokenFile string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, m, tokenFile, args...)
	if code != 0 {
		t.Fatalf("keyledger %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// mustFail runs an invocation that must fail with the given error code.
func mustFail(t *testing.T, m *Main, tokenFile, code string, args ...string) {
	t.Helper()
	_, errOut, exit := cli(t, m, tokenFile, args...)
	if exit == 0 || !strings.Contains(errOut, "error: "+code+":") {
		t.Fatalf("keyledger %s: exit %d, stderr %q; want error %s", strings.Join(args, " "), exit, errOut, code)
	}
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	return v
}

type keyJSON struct {
	KeyID  string   `json:"key_id"`
	Token  string   `json:"token"`
	Name   string   `json:"name"`
	Status string   `json:"status"`
	Scopes []string `json:"scopes"`
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	if fi, err := os.Stat(admin); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v; want 0600", err, fi.Mode())
	}

	// Keys are disabled until an admin enables them.
	mustFail(t, m, admin, "disabled", "key", "issue", "--name", "early")
	out := mustCLI(t, m, admin, "settings", "set", "--enabled", "--max-active-keys", "3", "--max-expiry", "P60D", "--default-expiry", "P30D")
	if !strings.Contains(out, "enabled                   true") || !strings.Contains(out, "max_active_keys_per_user  3") {
		t.Fatalf("settings after set:\n%s", out)
	}
	mustFail(t, m, admin, "invalid", "settings", "set", "--max-expiry", "forever")

	// An admin registers a developer and hands them a key.
	alice := decodeJSON[struct {
		ID string `json:"user_id"`
	}](t, mustCLI(t, m, admin, "user", "add", "alice", "--role", "developer", "--json"))
	aliceKey := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--owner", alice.ID, "--name", "alice-cli", "--json"))
	aliceToken := writeToken(t, aliceKey.Token)

	// The developer serves themselves within policy.
	out = mustCLI(t, m, aliceToken, "key", "issue", "--name", "ci", "--scope", "read", "--scope", "write", "--description", "CI pipeline")
	if !strings.Contains(out, "never shown again") || !strings.Contains(out, "kl_") {
		t.Fatalf("issue output:\n%s", out)
	}
	mustFail(t, m, aliceToken, "conflict", "key", "issue", "--name", "ci")
	mustFail(t, m, aliceToken, "invalid", "key", "issue", "--name", "long", "--expires-in", "P90D")
	mustFail(t, m, aliceToken, "forbidden", "settings", "set", "--enabled=false")
	mustFail(t, m, aliceToken, "forbidden", "key", "issue", "--name", "x", "--owner", "01J00000000000000000000000")
	list := mustCLI(t, m, aliceToken, "key", "list")
	if strings.Count(list, "alice (") != 2 || strings.Contains(list, "bootstrap") {
		t.Fatalf("alice's list shows others' keys or misses hers:\n%s", list)
	}
	page := decodeJSON[struct{ Keys []keyJSON }](t, mustCLI(t, m, aliceToken, "key", "list", "--q", "ci", "--json"))
	if len(page.Keys) != 1 || page.Keys[0].Name != "ci" || len(page.Keys[0].Scopes) != 2 || page.Keys[0].Token != "" {
		t.Fatalf("search for ci: %+v", page.Keys)
	}
	ci := page.Keys[0].KeyID
	mustCLI(t, m, aliceToken, "key", "issue", "--name", "third")
	mustFail(t, m, aliceToken, "limit_reached", "key", "issue", "--name", "fourth")

	// Rename, revoke, regenerate, delete.
	if out := mustCLI(t, m, aliceToken, "key", "update", ci, "--name", "ci-main"); !strings.Contains(out, "ci-main") {
		t.Fatalf("update output:\n%s", out)
	}
	if out := mustCLI(t, m, aliceToken, "key", "revoke", ci, "--reason", "rotated"); !strings.Contains(out, "revoked "+ci) {
		t.Fatalf("revoke output:\n%s", out)
	}
	_, errOut, code := cli(t, m, aliceToken, "key", "revoke", ci)
	if code == 0 {
		t.Fatalf("revoking a revoked key succeeded: %s", errOut)
	}
	regen := decodeJSON[keyJSON](t, mustCLI(t, m, aliceToken, "key", "regenerate", ci, "--json"))
	if regen.KeyID != ci || regen.Status != "active" || !strings.HasPrefix(regen.Token, "kl_"+ci+"_") {
		t.Fatalf("regenerate: %+v", regen)
	}
	mustCLI(t, m, aliceToken, "key", "delete", ci)
	if shown := decodeJSON[keyJSON](t, mustCLI(t, m, aliceToken, "key", "show", ci, "--json")); shown.Status != "deleted" {
		t.Fatalf("deleted key shows as %s", shown.Status)
	}
	mustFail(t, m, aliceToken, "not_found", "key", "show", "01J00000000000000000000000")

	// HTTP mirrors the same API and answers the probes.
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(m.HTTPURL() + path)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, res.Status)
		}
	}
	req, _ := http.NewRequest("POST", m.HTTPURL()+"/v1/query/key", strings.NewReader(`{"key_id":"`+ci+`"}`))
	req.Header.Set("Authorization", "Bearer "+regen.Token)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("a deleted key's token over HTTP: %v %v, want 401", err, res.Status)
	}

	// Deactivating alice deletes her keys and locks her out.
	mustCLI(t, m, admin, "user", "deactivate", alice.ID)
	mustFail(t, m, aliceToken, "unauthenticated", "key", "list")
	if active := decodeJSON[struct{ Keys []keyJSON }](t, mustCLI(t, m, admin, "key", "list", "--owner", alice.ID, "--status", "active", "--json")); len(active.Keys) != 0 {
		t.Fatalf("%d keys of a deactivated user are active", len(active.Keys))
	}

	// A restart keeps everything and bootstraps no second admin.
	before, _ := os.ReadFile(admin)
	m.Close()
	m = MustRunMain(t, dir)
	after, _ := os.ReadFile(admin)
	if !bytes.Equal(before, after) {
		t.Fatal("restart replaced the admin token")
	}
	users := decodeJSON[[]struct{ Name string }](t, mustCLI(t, m, admin, "user", "list", "--json"))
	if len(users) != 2 || users[0].Name != "admin" || users[1].Name != "alice" {
		t.Fatalf("users after restart: %+v; want admin and alice", users)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"key", "explode"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("unknown command: exit %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := Run(context.Background(), []string{"key", "rename", "01J9Z3Q5W8X2M4N6P7R8S9T0VA", "new"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "keyledger key update KEY_ID --name NAME") {
		t.Fatalf("key rename: exit %d %q; want the command that renames", code, errOut.String())
	}
	for word, other := range otherWords {
		if _, ok := findSubcommand(strings.Fields(other)[0] + " " + strings.Fields(other)[1]); !ok {
			t.Errorf("%q points to %q, which is no command", word, other)
		}
	}
	if code := Run(context.Background(), []string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "keyledger key issue") {
		t.Fatalf("help: exit %d", code)
	}
	// An alias's flag and the same flag after the command: refused, not one
	// of them silently (before, the one before the command won, and the
	// operator acted as the alias's admin).
	for _, args := range [][]string{
		{"--token-file", "admin.token", "whoami", "--token-file", "carol.token"},
		{"--token-file=admin.token", "key", "list", "--token-file=carol.token"},
		{"--server", "nats://a:4222", "key", "list", "-server", "nats://b:4222"},
	} {
		errOut.Reset()
		if code := Run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "given both before and after the command") {
			t.Errorf("%q: exit %d %q; want a usage error", args, code, errOut.String())
		}
	}
}

func TestGCPercentKeepsAHeapFloor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{4 << 20, 1000},  // 4 MB live: capped
		{16 << 20, 300},  // 16 MB live: goal 64 MB
		{32 << 20, 100},  // half the floor or more: default pacing
		{170 << 20, 100}, // a million keys
	} {
		if got := gcPercentFor(tc.live, 64<<20); got != tc.want {
			t.Fatalf("live %d MB: GOGC %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestRebuildAtStartAndReadiness removes ledger.db: the next start rebuilds
// it from the stream with progress lines, and /readyz answers 503 until the
// projections hold what the stream held.
func TestRebuildAtStartAndReadiness(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	for i := range 3 {
		mustCLI(t, m, admin, "key", "issue", "--name", "k"+strings.Repeat("x", i))
	}
	m.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "ledger.db"+suffix))
	}
	release := make(chan struct{})
	var logs syncWriter
	m = NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr, m.Stdout = dir, "127.0.0.1:0", "127.0.0.1:0", io.Discard
	m.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m.BeforeCommit = func(uint64) { <-release }
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer func() { // runs first: a failed test must not leave Close waiting on the held projector
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	status := func() int {
		res, err := http.Get(m.HTTPURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(); got != 503 {
		t.Fatalf("/readyz while rebuilding: %d, want 503", got)
	}
	close(release)
	for deadline := time.Now().Add(10 * time.Second); status() != 200; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready after the rebuild")
		}
	}
	for _, line := range []string{"building projections from the event stream", "projections catching up", "projections caught up"} {
		if !strings.Contains(logs.String(), line) {
			t.Fatalf("no %q in the log:\n%s", line, logs.String())
		}
	}
	if page := decodeJSON[struct{ Keys []keyJSON }](t, mustCLI(t, m, admin, "key", "list", "--json")); len(page.Keys) != 4 {
		t.Fatalf("%d keys after the rebuild, want 4 (3 and the bootstrap key)", len(page.Keys))
	}
}

// TestARebuildKeepsEachKeysLastUse: ledger.db rebuilt while the usage
// stream holds uses of keys. The ledger projection replays thousands of
// events while the usage projection has a handful; the keys used last come
// back with their last use all the same, in SQLite and in the verify index,
// which the inactivity sweeper judges by.
func TestARebuildKeepsEachKeysLastUse(t *testing.T) {
	dir := t.TempDir()
	fast := func(m *Main) { m.NATSSync = "1s" } // thousands of sequential issues
	m := run(t, newMain(dir, fast))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled", "--max-active-keys", "1000")
	var owners []string
	for i := range 3 {
		mustCLI(t, m, admin, "user", "add", fmt.Sprint("svc-", i), "--kind", "service")
		owners = append(owners, fmt.Sprint("svc-", i))
	}
	tok, err := os.ReadFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	actor, err := m.service.Authenticate(context.Background(), "Bearer "+strings.TrimSpace(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3000 {
		k, err := m.service.IssueKey(context.Background(), actor, "", commands.IssueKey{Name: fmt.Sprint("k-", i), Owner: owners[i%3]})
		if err != nil {
			t.Fatal(err)
		}
		if i >= 2995 { // the last ones: their issue is in the ledger's last batch
			if code, res := verifyHTTP(t, m, `{"key":"`+k.Token+`"}`, ""); code != 200 || !res.Valid {
				t.Fatalf("verify: %d %+v", code, res)
			}
			ids = append(ids, k.ID)
		}
	}
	m.Close() // flushes the usage records
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "ledger.db"+suffix))
	}
	m = run(t, newMain(dir, fast))
	for deadline := time.Now().Add(20 * time.Second); m.ready() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready after the rebuild")
		}
	}
	for _, id := range ids {
		show := decodeJSON[struct {
			LastUsedAt *time.Time `json:"last_used_at"`
		}](t, mustCLI(t, m, admin, "key", "show", id, "--json"))
		if show.LastUsedAt == nil || m.index.LastUsed(id) == 0 {
			t.Fatalf("key %s after the rebuild: last_used_at %v, in the index %d; want its use", id, show.LastUsedAt, m.index.LastUsed(id))
		}
	}
}
