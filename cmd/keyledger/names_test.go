package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputNamesUsers: an admin reading the audit trail, a trace, a key
// and the settings reads who acted by name, not by user ID alone; a
// refused issue names the owner. A developer reading their own key, which
// an admin revoked, does not learn the admin's name (developers may not
// list users).
func TestOutputNamesUsers(t *testing.T) {
	b := newBoundary(t, nil)
	aliceFile := filepath.Join(t.TempDir(), "alice.token")
	if err := os.WriteFile(aliceFile, []byte(b.alice), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, b.m, b.admin, "settings", "set", "--max-active-keys", "2")
	second := decodeJSON[keyJSON](t, mustCLI(t, b.m, aliceFile, "key", "issue", "--name", "second", "--json"))
	if err := os.WriteFile(aliceFile, []byte(second.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, b.m, aliceFile, "key", "issue", "--name", "third")
	if code == 0 || !strings.Contains(errOut, "alice ("+b.aliceID+") already has 2 active keys") {
		t.Fatalf("a refused issue: exit %d, %s", code, errOut)
	}
	mustCLI(t, b.m, b.admin, "key", "revoke", b.aliceKeyID, "--reason", "rotated")

	settings := mustCLI(t, b.m, b.admin, "settings", "show")
	if !strings.Contains(settings, "by admin ("+b.adminID+")") {
		t.Errorf("settings show:\n%s", settings)
	}
	show := mustCLI(t, b.m, b.admin, "key", "show", b.aliceKeyID)
	for _, want := range []string{"alice (" + b.aliceID + ")", "by admin (" + b.adminID + ")"} {
		if !strings.Contains(show, want) {
			t.Errorf("key show lacks %q:\n%s", want, show)
		}
	}
	// Every answer that shows a key names its people, key update's too.
	updated := mustCLI(t, b.m, b.admin, "key", "update", second.KeyID, "--name", "second-renamed")
	if !strings.Contains(updated, "by alice ("+b.aliceID+")") {
		t.Errorf("key update does not name who created the key:\n%s", updated)
	}
	own := mustCLI(t, b.m, aliceFile, "key", "show", b.aliceKeyID)
	if strings.Contains(own, "admin (") || !strings.Contains(own, "by "+b.adminID) {
		t.Errorf("alice's key show names the admin:\n%s", own)
	}
	list := mustCLI(t, b.m, b.admin, "audit", "list", "--key", b.aliceKeyID)
	revoked := lineWith(list, "key.revoked")
	if !strings.Contains(revoked, " admin ") || !strings.Contains(revoked, " alice ") || strings.Contains(revoked, b.adminID) {
		t.Errorf("audit list's revoke row does not name admin and alice: %q", revoked)
	}
	trace := mustCLI(t, b.m, b.admin, "audit", "trace", b.aliceKeyID)
	if head := strings.SplitN(trace, "\n", 2)[0]; head != "key "+b.aliceKeyID+` "alice", owner alice (`+b.aliceID+")" {
		t.Errorf("trace heading: %q", head)
	}
	checkpoints := mustCLI(t, b.m, b.admin, "audit", "list", "--action", "user.registered")
	for _, line := range strings.Split(strings.TrimSpace(checkpoints), "\n") {
		if len([]rune(line)) > 300 {
			t.Errorf("an audit line of %d characters: %.80s…", len([]rune(line)), line)
		}
	}
}

// lineWith is the first line of out holding s.
func lineWith(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
