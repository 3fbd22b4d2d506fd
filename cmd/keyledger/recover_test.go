package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// keyIDInTokenFile is the key ID inside the token stored in path.
func keyIDInTokenFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _, ok := keyledger.ParseToken(strings.TrimSpace(string(b)))
	if !ok {
		t.Fatalf("%s holds no token", path)
	}
	return id
}

// TestManagementCallsCountAsUse: an admin who sets a one-day inactivity
// limit and then only makes management calls, one every 16 hours, is never
// locked out, and their key's last_used_at moves forward.
func TestManagementCallsCountAsUse(t *testing.T) {
	dir := t.TempDir()
	var clk clock
	mod := func(m *Main) { m.Now, m.SweepEvery = clk.Now, 20*time.Millisecond }
	m := run(t, newMain(dir, mod))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled", "--inactivity-expiry", "P1D")
	for range 5 {
		clk.Add(16 * time.Hour)
		time.Sleep(60 * time.Millisecond) // the sweeper runs in between
		mustCLI(t, m, admin, "settings", "show")
	}
	m.Close() // flushes the minute's usage
	m = run(t, newMain(dir, mod))
	waitCaughtUp(t, m)
	k := decodeJSON[struct {
		Status     string     `json:"status"`
		LastUsedAt *time.Time `json:"last_used_at"`
	}](t, mustCLI(t, m, admin, "key", "show", keyIDInTokenFile(t, admin), "--json"))
	if k.Status != "active" || k.LastUsedAt == nil || clk.Now().Sub(*k.LastUsedAt) > time.Minute {
		t.Fatalf("admin key after management calls: %+v (now %s)", k, clk.Now())
	}
}

// lockOutAdmins makes every admin key expire for inactivity.
func lockOutAdmins(t *testing.T, m *Main, admin string, clk *clock) {
	t.Helper()
	mustCLI(t, m, admin, "settings", "set", "--enabled", "--inactivity-expiry", "P1D")
	clk.Add(25 * time.Hour)
	mustFail(t, m, admin, "unauthenticated", "settings", "show")
}

// recoverAt runs what `keyledger admin recover --data dir` runs, at the
// servers' test clock.
func recoverAt(t *testing.T, dir string, clk *clock) {
	t.Helper()
	if _, _, err := recoverAdmin(context.Background(), dir, clk.Now); err != nil {
		t.Fatalf("admin recover: %v", err)
	}
}

// waitCaughtUp waits until m has projected everything stored before it started.
func waitCaughtUp(t *testing.T, m *Main) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", m.ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkRecovered checks that the token in admin acts as a fresh admin whose
// user and key were recorded with actor "recovery".
func checkRecovered(t *testing.T, m *Main, admin, oldKey string) {
	t.Helper()
	if fi, err := os.Stat(admin); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token after recover: %v %v", err, fi)
	}
	id := keyIDInTokenFile(t, admin)
	if id == oldKey {
		t.Fatal("admin.token still holds the old key")
	}
	k := decodeJSON[struct {
		Status    string `json:"status"`
		CreatedBy string `json:"created_by"`
		OwnerName string `json:"owner_name"`
	}](t, mustCLI(t, m, admin, "key", "show", id, "--json"))
	if k.Status != "active" || k.CreatedBy != "recovery" || !strings.HasPrefix(k.OwnerName, "recovery-") {
		t.Fatalf("recovered key %+v", k)
	}
	mustCLI(t, m, admin, "user", "add", "new-admin", "--role", "admin")
}

// TestAdminRecoverCLI runs the subcommand itself against a stopped server's
// directory: it prints the path, never the token.
func TestAdminRecoverCLI(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	old := keyIDInTokenFile(t, admin)
	m.Close()
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"admin", "recover", "--data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("admin recover: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "admin token written to "+admin) || strings.Contains(out.String(), "kl_") {
		t.Fatalf("recover printed %q", out.String())
	}
	m = run(t, newMain(dir, nil))
	waitCaughtUp(t, m)
	checkRecovered(t, m, admin, old)
	var empty bytes.Buffer
	if code := Run(context.Background(), []string{"admin", "recover", "--data", t.TempDir()}, &empty, &empty); code == 0 {
		t.Fatal("recover in an empty directory succeeded")
	}
}

func TestAdminRecoverWhileServing(t *testing.T) {
	dir := t.TempDir()
	var clk clock
	m := run(t, newMain(dir, func(m *Main) { m.Now = clk.Now }))
	admin := filepath.Join(dir, "admin.token")
	old := keyIDInTokenFile(t, admin)
	lockOutAdmins(t, m, admin, &clk)
	if err := newMain(dir, nil).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second serve on the same data directory: %v", err)
	}
	recoverAt(t, dir, &clk)
	checkRecovered(t, m, admin, old)
}

func TestAdminRecoverWhileStopped(t *testing.T) {
	dir := t.TempDir()
	var clk clock
	mod := func(m *Main) { m.Now = clk.Now }
	m := run(t, newMain(dir, mod))
	admin := filepath.Join(dir, "admin.token")
	old := keyIDInTokenFile(t, admin)
	lockOutAdmins(t, m, admin, &clk)
	m.Close()
	recoverAt(t, dir, &clk)
	m = run(t, newMain(dir, mod))
	waitCaughtUp(t, m)
	checkRecovered(t, m, admin, old)
}
