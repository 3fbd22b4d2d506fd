package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenNeverEchoed: a token pasted where an ID goes is named as a
// mistake, with the key ID to pass instead, and never printed back: not by
// the CLI, not in the server's replies over NATS or HTTP.
func TestTokenNeverEchoed(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "victim", "--json"))
	secret := k.Token[len("kl_")+len(k.KeyID)+1:]
	for _, args := range [][]string{
		{"key", "show", k.Token},
		{"key", "update", k.Token, "--name", "x"},
		{"key", "revoke", k.KeyID, k.Token},
		{"key", "regenerate", k.Token},
		{"key", "delete", k.Token},
		{"key", "delete", "--owner", k.Token, "--all"},
		{"key", "issue", "--name", "x", "--owner", k.Token},
		{"key", "list", "--owner", k.Token},
		{"key", "list", "--created-by", k.Token},
		{"key", "list", "--expires-before", k.Token},
		{"key", "issue", "--name", "x", "--expires-in", k.Token},
		{"key", "issue", "--name", "x", "--expires-at", k.Token},
		{"key", "issue", "--name", "x", "--rate-limit", k.Token},
		{"key", "issue", "--name", "x", "--cidr", k.Token},
		{"key", "issue", "--name", "x", "--scope", k.Token},
		{"user", "roles", k.Token, "--role", "developer"},
		{"user", "deactivate", k.Token},
		{"user", "list", "--q", k.Token},
		{"settings", "set", "--max-active-keys", k.Token},
		{"settings", "set", "--max-expiry", k.Token},
		{"settings", "set", "--enabled=" + k.Token},
		{"watch", "--events", k.Token},
	} {
		t.Run(strings.Join(args[:2], "_"), func(t *testing.T) {
			out, errOut, _ := cli(t, m, admin, args...)
			if strings.Contains(out+errOut, secret[:10]) {
				t.Fatalf("keyledger %s printed the secret:\nstdout %s\nstderr %s", strings.Join(args, " "), out, errOut)
			}
		})
	}
	_, errOut, code := cli(t, m, admin, "key", "show", k.Token)
	if code != 1 || !strings.Contains(errOut, "that is a token") || !strings.Contains(errOut, "pass the key ID "+k.KeyID) {
		t.Fatalf("key show TOKEN: exit %d, %q; want the mistake named", code, errOut)
	}

	// The server refuses on its own, for clients other than this CLI.
	for i, tc := range []struct{ path, body string }{
		{"/v1/query/key", `{"key_id":"` + k.Token + `"}`},
		{"/v1/cmd/key/update", `{"key_id":"` + k.Token + `","name":"x"}`},
		{"/v1/cmd/key/revoke", `{"key_ids":["` + k.KeyID + `","` + k.Token + `"]}`},
		{"/v1/cmd/key/regenerate", `{"key_id":"` + k.Token + `"}`},
		{"/v1/cmd/key/delete", `{"key_ids":["` + k.Token + `"]}`},
		{"/v1/cmd/key/delete", `{"owner":"` + k.Token + `","all":true}`},
		{"/v1/cmd/key/issue", `{"name":"x","owner":"` + k.Token + `"}`},
		{"/v1/cmd/key/issue", `{"name":"x","expires_in":"` + k.Token + `"}`},
		{"/v1/cmd/key/issue", `{"name":"x","allowed_cidrs":["` + k.Token + `"]}`},
		{"/v1/cmd/key/issue", `{"name":"x","scopes":["` + k.Token + `"]}`},
		{"/v1/cmd/key/issue", `{"name":"x","rate_limit":{"limit":1,"per":"` + k.Token + `"}}`},
		{"/v1/cmd/user/roles", `{"user_id":"` + k.Token + `","roles":[]}`},
		{"/v1/cmd/user/deactivate", `{"user_id":"` + k.Token + `"}`},
		{"/v1/cmd/settings/set", `{"max_expiry":"` + k.Token + `"}`},
		{"/v1/cmd/settings/set", `{"inactivity_expiry":"` + k.Token + `"}`},
		{"/v1/query/keys", `{"owner":"` + k.Token + `"}`},
		{"/v1/query/users", `{"q":"` + k.Token + `"}`},
	} {
		// Each issue has its own name, so that only the pasted token can fail it.
		reqBody := strings.ReplaceAll(tc.body, `"name":"x"`, fmt.Sprintf(`"name":"x%d"`, i))
		req, _ := http.NewRequest("POST", m.HTTPURL()+tc.path, strings.NewReader(reqBody))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(readFile(t, admin)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || bytes.Contains(body, []byte(secret[:10])) {
			t.Errorf("POST %s %s: %d %s; want 400 without the secret", tc.path, tc.body, res.StatusCode, body)
		}
	}
	if shown := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "show", k.KeyID, "--json")); shown.Status != "active" {
		t.Fatalf("a refused request changed the key: %s", shown.Status)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNoTokenSaysWhereItLooked: outside the directory holding
// keyledger-data/, without a token, the CLI names the sources it tried
// before connecting anywhere.
func TestNoTokenSaysWhereItLooked(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("KEYLEDGER_TOKEN", "")
	for _, args := range [][]string{{"key", "list"}, {"settings", "show"}, {"user", "list"}} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append(args, "--server", "nats://127.0.0.1:1"), &out, &errOut)
		if code != 1 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		for _, want := range []string{"KEYLEDGER_TOKEN", "--token-file", "keyledger-data/admin.token", "unauthenticated"} {
			if !strings.Contains(errOut.String(), want) {
				t.Fatalf("%s: no %q in %q", strings.Join(args, " "), want, errOut.String())
			}
		}
		if strings.Contains(errOut.String(), "connect") {
			t.Fatalf("tried to connect first: %q", errOut.String())
		}
	}
	// A file that holds something else is named as such, its content not shown.
	junk := writeToken(t, "hunter2-not-a-token")
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"key", "list", "--server", "nats://127.0.0.1:1", "--token-file", junk}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "does not hold a keyledger token") || strings.Contains(errOut.String(), "hunter2") {
		t.Fatalf("junk token file: exit %d, %q", code, errOut.String())
	}
}
