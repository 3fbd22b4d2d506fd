package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyShowTellsHowAKeyEnded: key show and its JSON say when a key was
// revoked or deleted, by whom and why (the reason given to either).
func TestKeyShowTellsHowAKeyEnded(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	adminID := decodeJSON[[]struct {
		ID string `json:"user_id"`
	}](t, mustCLI(t, m, admin, "user", "list", "--q", "admin", "--json"))[0].ID
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "leaky", "--json"))
	mustCLI(t, m, admin, "key", "revoke", k.KeyID, "--reason", "leaked in a CI log")

	type ending struct {
		Status       string  `json:"status"`
		RevokedAt    *string `json:"revoked_at"`
		RevokedBy    string  `json:"revoked_by"`
		RevokeReason string  `json:"revoke_reason"`
		DeletedAt    *string `json:"deleted_at"`
		DeletedBy    string  `json:"deleted_by"`
		DeleteReason string  `json:"delete_reason"`
	}
	got := decodeJSON[ending](t, mustCLI(t, m, admin, "key", "show", k.KeyID, "--json"))
	if got.Status != "revoked" || got.RevokedAt == nil || got.RevokedBy != adminID || got.RevokeReason != "leaked in a CI log" || got.DeletedAt != nil {
		t.Fatalf("revoked key: %+v", got)
	}
	out := mustCLI(t, m, admin, "key", "show", k.KeyID)
	for _, want := range []string{"revoked_at", "by admin (" + adminID + ")", "revoke_reason", "leaked in a CI log"} {
		if !strings.Contains(out, want) {
			t.Fatalf("key show lacks %q:\n%s", want, out)
		}
	}
	// The list's JSON carries it too.
	page := decodeJSON[struct{ Keys []ending }](t, mustCLI(t, m, admin, "key", "list", "--status", "revoked", "--json"))
	if len(page.Keys) != 1 || page.Keys[0].RevokeReason != "leaked in a CI log" {
		t.Fatalf("list: %+v", page.Keys)
	}

	// A reason over the limit is refused once, and deletes nothing.
	if _, errOut, code := cli(t, m, admin, "key", "delete", k.KeyID, "--reason", strings.Repeat("x", 501)); code != 1 || !strings.HasPrefix(errOut, "error: invalid: reason") {
		t.Fatalf("a 501-character reason: exit %d %s", code, errOut)
	}
	mustCLI(t, m, admin, "key", "delete", k.KeyID, "--reason", "the CI job that leaked it is gone")
	got = decodeJSON[ending](t, mustCLI(t, m, admin, "key", "show", k.KeyID, "--json"))
	if got.Status != "deleted" || got.DeletedAt == nil || got.DeletedBy != adminID || got.DeleteReason != "the CI job that leaked it is gone" || got.RevokeReason != "leaked in a CI log" {
		t.Fatalf("deleted key: %+v", got)
	}
	out = mustCLI(t, m, admin, "key", "show", k.KeyID)
	for _, want := range []string{"deleted_at", "delete_reason", "revoke_reason"} {
		if !strings.Contains(out, want) {
			t.Fatalf("key show lacks %q:\n%s", want, out)
		}
	}

	// Regenerating a revoked key clears how it ended.
	r := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "rotated", "--json"))
	mustCLI(t, m, admin, "key", "revoke", r.KeyID, "--reason", "rotate")
	mustCLI(t, m, admin, "key", "regenerate", r.KeyID)
	if got := decodeJSON[ending](t, mustCLI(t, m, admin, "key", "show", r.KeyID, "--json")); got.RevokedAt != nil || got.RevokedBy != "" || got.RevokeReason != "" {
		t.Fatalf("a regenerated key still shows its revocation: %+v", got)
	}
	out = mustCLI(t, m, admin, "key", "show", r.KeyID)
	if strings.Contains(out, "revoke") || !strings.Contains(out, "regenerated_at") {
		t.Fatalf("a regenerated key shows its revocation, or not its regeneration:\n%s", out)
	}
}

// TestKeyListLabelsTheEffectiveExpiry: under an inactivity policy a key's
// end comes before its expires_at; the list shows both, labelled.
func TestKeyListLabelsTheEffectiveExpiry(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled", "--max-expiry", "P365D", "--default-expiry", "P365D")
	mustCLI(t, m, admin, "key", "issue", "--name", "yearly")
	before := mustCLI(t, m, admin, "key", "list", "--q", "yearly")
	mustCLI(t, m, admin, "settings", "set", "--inactivity-expiry", "P7D")
	after := mustCLI(t, m, admin, "key", "list", "--q", "yearly")
	header := strings.SplitN(after, "\n", 2)[0]
	if !strings.Contains(header, "EXPIRES AT") || !strings.Contains(header, "INACTIVITY") {
		t.Fatalf("the header does not say which expiry it shows: %q", header)
	}
	row := func(s string) string { return strings.Split(s, "\n")[1] }
	if !strings.Contains(row(before), "same") || !strings.Contains(row(after), "if unused") {
		t.Fatalf("before:\n%s\nafter:\n%s", before, after)
	}
	// Connection flags may also come before the command.
	var out, errOut strings.Builder
	if code := Run(context.Background(), []string{"--server", m.ClientURL(), "--token-file=" + admin, "--json", "key", "list", "--q", "yearly"}, &out, &errOut); code != 0 ||
		len(decodeJSON[struct{ Keys []keyJSON }](t, out.String()).Keys) != 1 {
		t.Fatalf("flags before the command: exit %d, %s %s", code, out.String(), errOut.String())
	}
	// The expires_at column is the issued one in both.
	issued := strings.Fields(row(before))
	if !strings.Contains(row(after), strings.Join(issued[len(issued)-4:len(issued)-2], " ")) {
		t.Fatalf("the issued expiry changed with the policy:\nbefore %s\nafter  %s", row(before), row(after))
	}
}

// TestUserListMatchesPartOfAName: user list --q finds part of a name, as key
// list --q does, for admins and for a developer looking at themselves.
func TestUserListMatchesPartOfAName(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	type user struct {
		ID   string `json:"user_id"`
		Name string `json:"name"`
	}
	bill := decodeJSON[user](t, mustCLI(t, m, admin, "user", "add", "billing-bot", "--kind", "service", "--role", "developer", "--json"))
	mustCLI(t, m, admin, "user", "add", "100%_real", "--role", "developer")
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"bil", []string{"billing-bot"}},
		{"BOT", []string{"billing-bot"}},
		{"ing-b", []string{"billing-bot"}},
		{bill.ID, []string{"billing-bot"}},
		{bill.ID[:10], nil}, // IDs match whole
		{"%", []string{"100%_real"}},
		{"_", []string{"100%_real"}},
		{"nobody", nil},
	} {
		users := decodeJSON[[]user](t, mustCLI(t, m, admin, "user", "list", "--q", tc.q, "--json"))
		var names []string
		for _, u := range users {
			names = append(names, u.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("--q %q: %v, want %v", tc.q, names, tc.want)
		}
	}
	if out := mustCLI(t, m, admin, "user", "list", "--q", "bil"); !strings.Contains(out, "billing-bot") {
		t.Fatalf("table:\n%s", out)
	}
	// A developer sees only themselves, found by part of their name too.
	tok := writeToken(t, decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--owner", bill.ID, "--name", "b", "--json")).Token)
	if users := decodeJSON[[]user](t, mustCLI(t, m, tok, "user", "list", "--q", "bil", "--json")); len(users) != 1 || users[0].ID != bill.ID {
		t.Fatalf("developer --q bil: %+v", users)
	}
	if users := decodeJSON[[]user](t, mustCLI(t, m, tok, "user", "list", "--q", "real", "--json")); len(users) != 0 {
		t.Fatalf("developer sees others: %+v", users)
	}
}
