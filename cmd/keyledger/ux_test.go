package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
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
		{"key", "show", secret},
		{"key", "show", " " + k.Token + "x"},
		{"user", "roles", secret, "--role", "developer"},
		{"kl_" + secret, "list"},
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
		{"/v1/query/key", `{"key_id":"` + secret + `"}`},
		{"/v1/query/key", `{"key_id":" ` + k.Token[:len(k.Token)-1] + `x"}`},
		{"/v1/cmd/key/revoke", `{"key_ids":["` + secret[:30] + `"]}`},
		{"/v1/cmd/user/roles", `{"user_id":"` + secret + `","roles":[]}`},
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
	// A token with one character mistyped is named as that.
	var secret [32]byte
	tok, _ := keyledger.NewToken("01J00000000000000000000000", secret)
	last := "A"
	if strings.HasSuffix(tok, last) {
		last = "B"
	}
	typo := writeToken(t, tok[:len(tok)-1]+last)
	errOut.Reset()
	code = Run(context.Background(), []string{"key", "list", "--server", "nats://127.0.0.1:1", "--token-file", typo}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "checksum") || strings.Contains(errOut.String(), tok[30:60]) {
		t.Fatalf("a mistyped token: exit %d, %q", code, errOut.String())
	}
}

// With no server at the address, the CLI says so with a code, and where
// the address came from, instead of the NATS client's own words.
func TestNoServerSaysWhereToLook(t *testing.T) {
	t.Chdir(t.TempDir())
	token, _ := keyledger.NewToken(ulid.Make().String(), [32]byte{1})
	_, errOut, code := cliAt("nats://127.0.0.1:1", writeToken(t, token), "key", "list")
	for _, want := range []string{"error: unavailable: ", "nats://127.0.0.1:1", "keyledger serve", "--server", "KEYLEDGER_SERVER"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, %q; want %q in it", code, errOut, want)
		}
	}
	if strings.Contains(errOut, token) {
		t.Fatal("the token was echoed")
	}
}

// TestValuesTheServerRefusesFailTheCommand: a flag value the server would
// refuse makes the command fail with invalid and exit 1; none is dropped.
func TestValuesTheServerRefusesFailTheCommand(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	for _, tc := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"settings", "set", "--max-active-keys", "0"}, "1 to 1000"},
		{[]string{"settings", "set", "--max-active-keys", "-3"}, "1 to 1000"},
		{[]string{"settings", "set", "--max-active-keys", "1001"}, "1 to 1000"},
		{[]string{"settings", "set", "--max-expiry", "P10Y"}, "P365D"},
		{[]string{"settings", "set", "--max-expiry", "P366D"}, "P365D"},
		{[]string{"settings", "set", "--max-expiry", "PT12H"}, "P1D"},
		{[]string{"settings", "set", "--max-expiry", "P9999Y"}, "P365D"},
		{[]string{"settings", "set", "--max-expiry", ""}, "P365D"},
		{[]string{"settings", "set", "--default-expiry", "P9999Y"}, "P365D"},
		{[]string{"settings", "set", "--default-expiry", "P200D"}, "max_expiry"},
		{[]string{"settings", "set", "--inactivity-expiry", "PT1S"}, "P1D"},
		{[]string{"settings", "set", "--inactivity-expiry", "PT2M"}, "P1D"},
		{[]string{"settings", "set", "--inactivity-expiry", "P1D1D"}, "P1D"},
		{[]string{"key", "list", "--limit", "0"}, "--limit"},
		{[]string{"key", "list", "--limit", "5000"}, "--limit"},
		{[]string{"key", "list", "--status", "gone"}, "status"},
		{[]string{"key", "list", "--expires-before", "tomorrow"}, "RFC 3339"},
		{[]string{"key", "issue", "--name", "x", "--expires-in", "P9999Y"}, "100 years"},
		{[]string{"key", "issue", "--name", "x", "--rate-limit", "ten/PT1M"}, "LIMIT/PERIOD"},
		{[]string{"key", "issue", "--name", "x", "--rate-limit", "0/PT1M"}, "rate_limit"},
		{[]string{"key", "issue", "--name", "x", "--cidr", "fe80::1%eth0"}, "zone"},
		{[]string{"key", "issue", "--name", "x", "--kind", "robot"}, ""}, // not a flag of issue: exit 2, below
		{[]string{"user", "add", "robot", "--kind", "robot"}, "kind"},
		{[]string{"user", "add", "bob", "--role", "root"}, "role"},
		{[]string{"watch", "--events", "issued"}, "issued"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, errOut, code := cli(t, m, admin, tc.args...)
			if tc.want == "" {
				if code != 2 {
					t.Fatalf("exit %d, want 2: %s", code, errOut)
				}
				return
			}
			if code != 1 || !strings.HasPrefix(errOut, "error: invalid: ") || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, invalid, naming %q", code, out, errOut, tc.want)
			}
		})
	}
	s := decodeJSON[struct {
		Max    int    `json:"max_active_keys_per_user"`
		Expiry string `json:"max_expiry"`
	}](t, mustCLI(t, m, admin, "settings", "show", "--json"))
	if s.Max != 100 || s.Expiry != "P180D" {
		t.Fatalf("refused values changed the policy: %+v", s)
	}
	for _, ok := range [][]string{
		{"settings", "set", "--max-expiry", "P365D", "--default-expiry", "P1Y"},
		{"settings", "set", "--inactivity-expiry", "P1D"},
		{"settings", "set", "--inactivity-expiry", "none", "--max-active-keys", "1000"},
		{"settings", "set", "--max-expiry", "never", "--default-expiry", "never"},
		{"settings", "set", "--enabled=true"},
		{"settings", "set", "--enabled=false"},
	} {
		mustCLI(t, m, admin, ok...)
	}
}

// TestHostileNamesRefused: names that would disguise themselves in a table
// are refused wherever a person writes text.
func TestHostileNamesRefused(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "Zoë's ключ 🚀", "--json"))
	for _, bad := range []string{"admin\u202Egnp.exe", "ci\u200Bkey", "\uFEFFci", "a\u2066b\u2069", "x\u200Fy", "new\u2028line", "tab\there"} {
		mustFail(t, m, admin, "invalid", "key", "issue", "--name", bad)
		mustFail(t, m, admin, "invalid", "key", "issue", "--name", "ok", "--description", bad)
		mustFail(t, m, admin, "invalid", "key", "update", k.KeyID, "--name", bad)
		mustFail(t, m, admin, "invalid", "key", "revoke", k.KeyID, "--reason", bad)
		mustFail(t, m, admin, "invalid", "user", "add", bad)
	}
	if out := mustCLI(t, m, admin, "key", "list"); !strings.Contains(out, "Zoë's ключ 🚀") {
		t.Fatalf("a plain non-ASCII name is missing:\n%s", out)
	}
}

// TestBusyPortIsSaidAtOnce: a port another process holds is named, by
// its flag, at once, and nothing is set up in the data directory.
func TestBusyPortIsSaidAtOnce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []string{"--nats-listen", "--http"} {
		dir := t.TempDir()
		m := newMain(dir, func(m *Main) {
			if flag == "--http" {
				m.HTTPAddr = busy.Addr().String()
			} else {
				m.NATSListen = busy.Addr().String()
			}
		})
		start := time.Now()
		err := m.Run(context.Background())
		if err == nil {
			m.Close()
			t.Fatalf("%s on a busy port: served", flag)
		}
		if !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), "in use") || time.Since(start) > 5*time.Second {
			t.Errorf("%s on a busy port: %v after %s", flag, err, time.Since(start))
		}
		if fileExists(filepath.Join(dir, "admin.token")) {
			t.Errorf("%s on a busy port: admin.token was written", flag)
		}
	}
}

// TestCLISaysWhyItsKeyIsRefused: the NATS server says only "authorization
// violation"; the CLI then asks keyledger.verify, as anyone may, and says
// whether the key was revoked, or this server holds no such key and
// secret (an old secret, another server's key).
func TestCLISaysWhyItsKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "laptop")
	mustCLI(t, m, admin, "key", "revoke", id)
	if _, errOut, code := cli(t, m, writeToken(t, tok), "key", "list"); code == 0 || !strings.Contains(errOut, "the key was revoked") {
		t.Errorf("a revoked key: exit %d %q", code, errOut)
	}
	// Revoking it again fails like any command: on stderr, with the code.
	out, errOut, code := cli(t, m, admin, "key", "revoke", id)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "error: conflict: ") || !strings.Contains(errOut, id) {
		t.Errorf("revoking a revoked key: exit %d, stdout %q, stderr %q; want exit 1 and error: conflict: naming %s", code, out, errOut, id)
	}
	var secret [32]byte
	stranger, _ := keyledger.NewToken("01J00000000000000000000000", secret)
	if _, errOut, code := cli(t, m, writeToken(t, stranger), "key", "list"); code == 0 || !strings.Contains(errOut, "this server holds no key with this ID and secret") {
		t.Errorf("a key of another server: exit %d %q", code, errOut)
	}
	// The old secret of a regenerated key: the hint names regeneration.
	mustCLI(t, m, admin, "key", "regenerate", id)
	if _, errOut, code := cli(t, m, writeToken(t, tok), "key", "list"); code == 0 || !strings.Contains(errOut, "was the key regenerated?") {
		t.Errorf("the old secret of a regenerated key: exit %d %q", code, errOut)
	}
}

// TestWatchSinceNeedsAGatewayCredentialAtOnce: replaying with an API key
// says what is needed at once, not after a timeout.
func TestWatchSinceNeedsAGatewayCredentialAtOnce(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	start := time.Now()
	_, errOut, code := cli(t, m, filepath.Join(dir, "admin.token"), "watch", "--since", "1")
	if code == 0 || !strings.Contains(errOut, "gateway credential") || time.Since(start) > 2*time.Second {
		t.Fatalf("watch --since with an API key: exit %d %q after %s", code, errOut, time.Since(start))
	}
}

// TestCLIUsesTheLocalServersURL: run where `keyledger serve` keeps
// keyledger-data/, with no --server, the CLI talks to the server that runs
// there (its nats.url), whatever token it uses, not to whatever answers on
// the default port.
func TestCLIUsesTheLocalServersURL(t *testing.T) {
	m := run(t, newMain(t.TempDir(), nil))
	cwd := t.TempDir()
	local := filepath.Join(cwd, "keyledger-data")
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin.token", "nats.url"} {
		b, err := os.ReadFile(filepath.Join(m.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(local, name), string(b))
	}
	t.Chdir(cwd)
	t.Setenv("KEYLEDGER_SERVER", "")
	t.Setenv("KEYLEDGER_TOKEN", "")
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"settings", "show", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("settings show with the local server's token and no --server: exit %d %s", code, errOut.String())
	}
	// A token from elsewhere goes to the local server too.
	tok := writeToken(t, strings.TrimSpace(mustRead(t, filepath.Join(local, "admin.token"))))
	if code := Run(context.Background(), []string{"settings", "show", "--token-file", tok}, &out, &errOut); code != 0 {
		t.Fatalf("settings show with --token-file and no --server: exit %d %s", code, errOut.String())
	}
	// Told the data directory, a command talks to the server running on
	// it, from any directory; so does a token read from a data directory.
	t.Chdir(t.TempDir())
	if code := Run(context.Background(), []string{"settings", "show", "--token-file", filepath.Join(m.DataDir, "admin.token")}, &out, &errOut); code != 0 {
		t.Fatalf("settings show --token-file DATA/admin.token elsewhere, no --server: exit %d %s", code, errOut.String())
	}
	cred := filepath.Join(t.TempDir(), "gw.cred")
	if code := Run(context.Background(), []string{"gateway-credentials", "--name", "auditor", "--data", m.DataDir, "--out", cred}, &out, &errOut); code != 0 {
		t.Fatalf("gateway-credentials: exit %d %s", code, errOut.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"audit", "verify", "--data", m.DataDir, "--token-file", cred}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "audit trail holds") {
		t.Fatalf("audit verify --data DIR and no --server: exit %d %s %s", code, out.String(), errOut.String())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeyInboxIsWhatNATSLetsTheTokenUse: `key inbox` prints the prefix a
// raw NATS client (the nats tool's --inbox-prefix) must use with the
// token; with it requests get their replies, with the bare key ID they do
// not, and a regenerated key's prefix changes.
func TestKeyInboxIsWhatNATSLetsTheTokenUse(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "raw-nats")
	tokFile := writeToken(t, tok)
	inbox := strings.TrimSpace(mustCLI(t, m, tokFile, "key", "inbox"))
	if inbox != natsauth.KeyInbox(tok) || !strings.HasPrefix(inbox, "_INBOX_"+id+"_") {
		t.Fatalf("key inbox printed %q, want %q", inbox, natsauth.KeyInbox(tok))
	}
	ask := func(prefix string) error {
		nc, err := nats.Connect(m.ClientURL(), nats.Token(tok), nats.CustomInboxPrefix(prefix), nats.NoReconnect(),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			return err
		}
		defer nc.Close()
		_, err = nc.Request("keyledger.query.keys", []byte(`{}`), 2*time.Second)
		return err
	}
	if err := ask(inbox); err != nil {
		t.Fatalf("a request with the printed prefix: %v", err)
	}
	if err := ask("_INBOX_" + id); err == nil {
		t.Fatal("a request with the bare key ID as prefix got a reply")
	}
	mustCLI(t, m, admin, "key", "revoke", id)
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "regenerate", id, "--json"))
	if again := strings.TrimSpace(mustCLI(t, m, writeToken(t, k.Token), "key", "inbox")); again == inbox {
		t.Fatal("the regenerated key's inbox prefix is the old one")
	}
}

// TestInactivityPolicySaysItReachesAdminKeys: inactivity expiry applies
// to every key at once, the bootstrap admin key's too; an admin setting it
// is told so, and how to get back in.
func TestInactivityPolicySaysItReachesAdminKeys(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	_, errOut, code := cli(t, m, admin, "settings", "set", "--inactivity-expiry", "P30D")
	if code != 0 || !strings.Contains(errOut, "bootstrap key too") || !strings.Contains(errOut, "admin recover") {
		t.Fatalf("settings set --inactivity-expiry: exit %d, %q", code, errOut)
	}
	if _, errOut, _ := cli(t, m, admin, "settings", "set", "--max-active-keys", "5"); errOut != "" {
		t.Fatalf("a change that is not the inactivity policy warned: %q", errOut)
	}
	if _, errOut, _ := cli(t, m, admin, "settings", "set", "--inactivity-expiry", "none"); errOut != "" {
		t.Fatalf("turning the inactivity policy off warned: %q", errOut)
	}
}

// TestSmallAnswersSayWhatHappened: a revoke by filter that matches nothing
// says so (it printed nothing, exit 0), an --as-of answer says it shows the
// past, and "none" for max_expiry means never.
func TestSmallAnswersSayWhatHappened(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	mustCLI(t, m, admin, "user", "add", "bob", "--role", "developer")
	if out := mustCLI(t, m, admin, "key", "revoke", "--owner", "bob", "--reason", "x"); !strings.Contains(out, "no active key matches; nothing was revoked") {
		t.Errorf("a revoke by filter that matched nothing: %q", out)
	}
	if out := mustCLI(t, m, admin, "key", "list", "--as-of", "seq:1"); !strings.HasPrefix(out, "as of seq:1 (") {
		t.Errorf("key list --as-of: %q", out)
	}
	if out := mustCLI(t, m, admin, "settings", "set", "--max-expiry", "none"); !strings.Contains(out, "max_expiry                never") {
		t.Errorf("--max-expiry none:\n%s", out)
	}
}

// TestWhoamiNeedsNoRole: keyledger whoami tells a key's holder who it acts
// as, over NATS, even when its owner has no role (query.whoami needs none).
func TestWhoamiNeedsNoRole(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	if out := mustCLI(t, m, admin, "whoami"); !strings.Contains(out, "user   admin (") || !strings.Contains(out, "roles  admin") {
		t.Errorf("whoami as the admin:\n%s", out)
	}
	mustCLI(t, m, admin, "user", "add", "idle", "--kind", "service")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--owner", "idle", "--name", "k", "--json"))
	file := filepath.Join(t.TempDir(), "idle.token")
	writeFile(t, file, k.Token)
	if out := mustCLI(t, m, file, "whoami"); !strings.Contains(out, "user   idle (") || !strings.Contains(out, "roles  none") || !strings.Contains(out, k.KeyID) {
		t.Errorf("whoami with no role:\n%s", out)
	}
}

// TestAuditListSinceTakesADuration: --since 1h means an hour ago, as
// audit suspicious --window 1h does; junk is still refused.
func TestAuditListSinceTakesADuration(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	if out := mustCLI(t, m, admin, "audit", "list", "--since", "1h", "--action", "user.registered"); !strings.Contains(out, "user.registered") {
		t.Errorf("--since 1h lost the first admin's registration:\n%s", out)
	}
	if out := mustCLI(t, m, admin, "audit", "list", "--until", "1h"); strings.Contains(out, "user.registered") {
		t.Errorf("--until 1h showed what happened a moment ago:\n%s", out)
	}
	if out := mustCLI(t, m, admin, "audit", "list", "--since", "PT1H", "--action", "user.registered"); !strings.Contains(out, "user.registered") {
		t.Errorf("--since PT1H lost the first admin's registration:\n%s", out)
	}
	if out := mustCLI(t, m, admin, "key", "list", "--as-of", "PT1S"); !strings.HasPrefix(out, "as of 20") {
		t.Errorf("key list --as-of PT1S:\n%s", out)
	}
	mustFail(t, m, admin, "invalid", "audit", "list", "--since", "-1h")
	mustFail(t, m, admin, "invalid", "audit", "list", "--since", "PT")
	mustFail(t, m, admin, "invalid", "audit", "list", "--since", "yesterday")
}

// TestAGatewayCredentialIsToldItIsNoKey: a gateway credential used for a
// key command is told it reads the stream only, not that its roles fall
// short (it has none: it is no key).
func TestAGatewayCredentialIsToldItIsNoKey(t *testing.T) {
	m := MustRunMain(t, "")
	file := filepath.Join(t.TempDir(), "gw.token")
	writeFile(t, file, gatewayToken(t, m, "edge"))
	_, errOut, code := cli(t, m, file, "key", "list")
	if code != 1 || !strings.Contains(errOut, "that is a gateway credential") {
		t.Fatalf("key list with a gateway credential: exit %d, %q", code, errOut)
	}
}

func TestAgoReadsDurationsAndPeriods(t *testing.T) {
	for in, want := range map[string]time.Duration{"1h": time.Hour, "90m": 90 * time.Minute, "PT1H": time.Hour, "pt30m": 30 * time.Minute,
		"P2D": 48 * time.Hour, "P1DT12H": 36 * time.Hour, "PT1H30M": 90 * time.Minute} {
		if got, ok := ago(in); !ok || got != want {
			t.Errorf("ago(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "-1h", "P-1D", "P1M", "P1Y", "PXD", "seq:3", "2026-01-01T00:00:00Z", "P99999D", "0s"} {
		if _, ok := ago(in); ok {
			t.Errorf("ago(%q) accepted", in)
		}
	}
}

// TestAuditListShowsWhatASettingsChangeChanged: the detail of a change is
// before and after of every field; cut at 100 characters it never reached
// what changed. The table names the changed fields.
func TestAuditListShowsWhatASettingsChangeChanged(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--max-expiry", "P30D", "--default-expiry", "P7D")
	out := mustCLI(t, m, admin, "audit", "list", "--action", "settings.changed", "--limit", "1")
	if !strings.Contains(out, `max_expiry: "P180D" → "P30D"`) || !strings.Contains(out, `default_expiry: "P90D" → "P7D"`) || strings.Contains(out, "updated_at") {
		t.Fatalf("the settings change:\n%s", out)
	}
}
