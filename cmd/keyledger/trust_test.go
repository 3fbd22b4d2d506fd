package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
)

// TestEndingAKeyClosesItsConnections: a NATS connection made with a key is
// closed within a second of the key being revoked, deleted, expired or its
// owner deactivated, and the key cannot connect again.
func TestEndingAKeyClosesItsConnections(t *testing.T) {
	var clk clock
	b := newBoundary(t, func(m *Main) { m.Now, m.SweepEvery = clk.Now, time.Hour })
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, keyID string, nc *nats.Conn)
	}{
		{"revoked", func(t *testing.T, keyID string, _ *nats.Conn) { mustCLI(t, b.m, b.admin, "key", "revoke", keyID) }},
		{"revoked_by_itself", func(t *testing.T, keyID string, nc *nats.Conn) {
			// The reply still reaches the connection that is about to close.
			reply, err := nc.Request("keyledger.cmd.key.revoke", []byte(`{"key_ids":["`+keyID+`"]}`), 5*time.Second)
			if err != nil || !strings.Contains(string(reply.Data), `"revoked":["`+keyID+`"]`) {
				t.Fatalf("revoking itself: %v %s", err, reply.Data)
			}
		}},
		{"deleted", func(t *testing.T, keyID string, _ *nats.Conn) { mustCLI(t, b.m, b.admin, "key", "delete", keyID) }},
		{"expired", func(t *testing.T, keyID string, _ *nats.Conn) {
			clk.Add(3 * time.Minute)
			b.m.sweep(context.Background())
		}},
		{"owner_deactivated", func(t *testing.T, keyID string, _ *nats.Conn) {
			mustCLI(t, b.m, b.admin, "user", "deactivate", b.aliceID)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", b.aliceID, "--name", tc.name, "--expires-in", "PT2M", "--json"))
			closed := make(chan struct{})
			nc := connectAs(t, b.m, k.Token, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
			bystander := connectAs(t, b.m, b.stranger, nats.NoReconnect())
			if _, err := nc.Request("keyledger.query.settings", nil, 5*time.Second); err != nil {
				t.Fatalf("the key works before: %v", err)
			}
			tc.end(t, k.KeyID, nc)
			select {
			case <-closed:
			case <-time.After(time.Second):
				t.Fatal("the connection is still open a second after its key ended")
			}
			if _, err := nats.Connect(b.m.ClientURL(), connectOptions(k.Token)...); err == nil {
				t.Fatal("the ended key connects again")
			}
			if bystander.IsClosed() {
				t.Fatal("another key's connection was closed too")
			}
		})
	}
}

// TestWhatEachConnectionMayDo: a developer's key issues its own key over
// NATS, with or without the Authorization header (the server vouches for
// the connection's key); it cannot reach admin commands. Without a key,
// only verification and notifications work; nats micro discovery needs a
// key. Wrong credentials do not connect at all.
func TestWhatEachConnectionMayDo(t *testing.T) {
	b := newBoundary(t, nil)
	alice := connectAs(t, b.m, b.alice, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	for _, withHeader := range []bool{false, true} {
		msg := nats.NewMsg("keyledger.cmd.key.issue")
		msg.Data = []byte(`{"name":"own-` + map[bool]string{false: "identity", true: "header"}[withHeader] + `"}`)
		if withHeader {
			msg.Header.Set("Authorization", "Bearer "+b.alice)
		}
		reply, err := alice.RequestMsg(msg, 5*time.Second)
		if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("header %v: %v %s", withHeader, err, reply.Data)
		}
		k := decodeJSON[struct{ Owner, Token string }](t, string(reply.Data))
		if k.Owner != b.aliceID || !strings.HasPrefix(k.Token, "kl_") {
			t.Fatalf("header %v: issued %+v; want a key of alice's", withHeader, k)
		}
	}
	// The Authorization header still decides when present: someone else's
	// valid key acts as that key, a bad one is refused.
	msg := nats.NewMsg("keyledger.cmd.key.issue")
	msg.Data = []byte(`{"name":"bad-header"}`)
	msg.Header.Set("Authorization", "Bearer kl_not-a-key")
	if reply, err := alice.RequestMsg(msg, 5*time.Second); err != nil || reply.Header.Get("Nats-Service-Error-Code") != "401" {
		t.Fatalf("a bad header on a good connection: %v %v", err, reply.Header)
	}
	if _, err := alice.Request("keyledger.cmd.user.register", []byte(`{"name":"eve","roles":["admin"]}`), 500*time.Millisecond); err == nil {
		t.Fatal("a developer's key reached keyledger.cmd.user.register")
	}
	mustFail(t, b.m, writeToken(t, b.alice), "forbidden", "user", "add", "eve", "--role", "admin")
	if _, err := alice.Request("$SRV.INFO.keyledger", nil, 5*time.Second); err != nil {
		t.Fatalf("nats micro discovery with a key: %v", err)
	}

	keyless := connectAs(t, b.m, "", nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if res := verifyNATS(t, keyless, `{"key":"`+b.alice+`"}`, nil); !res.Valid {
		t.Fatalf("keyless verify: %+v", res)
	}
	for _, subj := range []string{"keyledger.cmd.key.issue", "keyledger.query.settings", "keyledger.query.keys", "$SRV.INFO.keyledger"} {
		msg := nats.NewMsg(subj)
		msg.Data = []byte(`{"name":"keyless"}`)
		msg.Header.Set("Authorization", "Bearer "+b.alice) // a stolen header does not open the door
		if _, err := keyless.RequestMsg(msg, 500*time.Millisecond); err == nil {
			t.Fatalf("a keyless connection reached %s", subj)
		}
	}
	// A keyless connection that calls itself after alice's key is still
	// nobody: the callout names every user, the client does not.
	impostor := connectAs(t, b.m, "", nats.UserInfo(b.aliceKeyID, ""), nats.CustomInboxPrefix("_INBOX_anon_"+b.aliceKeyID))
	if _, err := impostor.Request("keyledger.query.settings", nil, 500*time.Millisecond); err == nil {
		t.Fatal("a keyless connection named after a key acted as that key")
	}
	if res := verifyNATS(t, impostor, `{"key":"kl_x"}`, nil); res.Code != "malformed" {
		t.Fatalf("verify on the impostor's own inbox: %+v", res)
	}
	// The nats tool sends --user without a password as a token.
	byToken := connectAs(t, b.m, "", nats.Token("Abcdefghijklmnop0123"), nats.UserInfo("", ""), nats.CustomInboxPrefix("_INBOX_anon_Abcdefghijklmnop0123"))
	if res := verifyNATS(t, byToken, `{"key":"kl_x"}`, nil); res.Code != "malformed" {
		t.Fatalf("verify as `nats --user NAME`: %+v", res)
	}
	for name, opt := range map[string]nats.Option{
		"a malformed key":           nats.Token("kl_guess"),
		"a key with a wrong secret": nats.Token(b.alice[:10] + strings.Repeat("x", len(b.alice)-10)),
		"a wrong gateway secret":    nats.Token(b.gateway[:len(b.gateway)-4] + "0000"),
		"a user and password":       nats.UserInfo("admin", "admin"),
	} {
		if nc, err := nats.Connect(b.m.ClientURL(), opt); err == nil {
			nc.Close()
			t.Fatalf("%s connected", name)
		}
	}
}

// TestRoleChangeReconnectsWithNewPermissions: when an owner's roles change,
// their keys' connections are closed; they reconnect with the permissions
// of the new roles.
func TestRoleChangeReconnectsWithNewPermissions(t *testing.T) {
	b := newBoundary(t, nil)
	reconnected := make(chan struct{}, 1)
	nc := connectAs(t, b.m, b.alice, nats.ReconnectWait(50*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	issue := func(name string) error {
		_, err := nc.Request("keyledger.cmd.key.issue", []byte(`{"name":"`+name+`"}`), 500*time.Millisecond)
		return err
	}
	if err := issue("as-developer"); err != nil {
		t.Fatalf("a developer issues: %v", err)
	}
	mustCLI(t, b.m, b.admin, "user", "roles", b.aliceID, "--role", "auditor")
	select {
	case <-reconnected:
	case <-time.After(2 * time.Second):
		t.Fatal("the connection was not renewed after the roles changed")
	}
	if err := issue("as-auditor"); err == nil {
		t.Fatal("an auditor's connection still reaches keyledger.cmd.key.issue")
	}
	if _, err := nc.Request("keyledger.query.settings", nil, 5*time.Second); err != nil {
		t.Fatalf("an auditor's query: %v", err)
	}
}

// TestGatewayCredentialOnEveryInstance: two instances answer the callout
// in turn. A gateway credential made on one and added to the other
// (gateway-credentials --from) lets the gateway in whichever answers.
func TestGatewayCredentialOnEveryInstance(t *testing.T) {
	a := run(t, newMain(t.TempDir(), nil))
	bDir := secondInstance(t, a, true).DataDir
	cred := filepath.Join(t.TempDir(), "edge.token")
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"gateway-credentials", "--data", a.DataDir, "--name", "edge", "--out", cred}, &out, &errOut); code != 0 {
		t.Fatalf("gateway-credentials on a: %d %s", code, errOut.String())
	}
	if code := Run(context.Background(), []string{"gateway-credentials", "--data", bDir, "--name", "other", "--from", cred}, &out, &errOut); code == 0 {
		t.Fatal("--from with another gateway's --name was accepted")
	}
	if code := Run(context.Background(), []string{"gateway-credentials", "--data", bDir, "--from", cred}, &out, &errOut); code != 0 {
		t.Fatalf("gateway-credentials --from on b: %d %s", code, errOut.String())
	}
	tok, err := os.ReadFile(cred)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // each instance answers about half of them
		nc, err := nats.Connect(a.ClientURL(), natsauth.ConnectOptions(string(tok))...)
		if err != nil {
			t.Fatalf("gateway connection %d: %v", i, err)
		}
		nc.Close()
	}
}

// TestWithdrawnGatewayIsCutOff: an operator withdraws a leaked gateway
// credential with gateway-credentials --withdraw while the thief is
// connected and reading notifications. The server closes that connection
// within seconds, and the credential connects no more.
func TestWithdrawnGatewayIsCutOff(t *testing.T) {
	m := run(t, newMain(t.TempDir(), nil))
	tok := gatewayToken(t, m, "leaked")
	thief := connectAs(t, m, tok, nats.NoReconnect())
	if _, err := thief.SubscribeSync("keyledger.notify.>"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"gateway-credentials", "--data", m.DataDir, "--withdraw", "leaked"}, &out, &errOut); code != 0 {
		t.Fatalf("--withdraw: %d %s", code, errOut.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !thief.IsClosed() {
		if time.Now().After(deadline) {
			t.Fatal("the withdrawn gateway is still connected after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if nc, err := nats.Connect(m.ClientURL(), natsauth.ConnectOptions(tok)...); err == nil {
		nc.Close()
		t.Fatal("the withdrawn credential connected again")
	}
	if code := Run(context.Background(), []string{"gateway-credentials", "--data", m.DataDir, "--withdraw", "nobody"}, &out, &errOut); code == 0 {
		t.Fatal("withdrawing a gateway that has no credential succeeded")
	}
}

// TestRefusedNATSConnectionsAreAudited: a NATS connection with a wrong
// secret for a real key, or with a revoked key, is an AccessDenied against
// that key, as an HTTP call would be: no actor, the client's address and
// name as source. A token that names no key is refused and not recorded.
func TestRefusedNATSConnectionsAreAudited(t *testing.T) {
	b := newBoundary(t, nil)
	var secret [32]byte
	wrong, _ := keyledger.NewToken(b.aliceKeyID, secret) // well-formed, a real key, the wrong secret
	for _, token := range []string{wrong, b.stranger[:10] + "garbage", "kl_" + strings.Repeat("x", 76)} {
		if nc, err := nats.Connect(b.m.ClientURL(), nats.Token(token), nats.Name("prober")); err == nil {
			nc.Close()
			t.Fatalf("%.12s… connected", token)
		}
	}
	mustCLI(t, b.m, b.admin, "key", "revoke", b.strangerKey)
	if nc, err := nats.Connect(b.m.ClientURL(), nats.Token(b.stranger)); err == nil {
		nc.Close()
		t.Fatal("a revoked key connected")
	}
	denied := func(keyID string) []*keyledger.AuditEntry {
		var out []*keyledger.AuditEntry
		page := decodeJSON[keyledger.AuditPage](t, mustCLI(t, b.m, b.admin, "audit", "list", "--key", keyID, "--action", "key.denied", "--json"))
		for _, e := range page.Entries {
			if strings.Contains(string(e.Detail), "nats.connect") {
				out = append(out, e)
			}
		}
		return out
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(denied(b.aliceKeyID)) == 0 || len(denied(b.strangerKey)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("refused connections recorded: alice %d, the revoked key %d; want 1 each",
				len(denied(b.aliceKeyID)), len(denied(b.strangerKey)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := denied(b.aliceKeyID)
	if len(d) != 1 || d[0].Actor != "" || d[0].Owner != b.aliceID || d[0].Source != "nats 127.0.0.1 (prober)" {
		t.Fatalf("alice's refused connection: %d entries, first %+v", len(d), d[0])
	}
}

// TestAllowedCIDRsHoldOverNATSAndHTTP: a key limited to a network other
// than loopback cannot connect to NATS from loopback, nor call the HTTP
// API; its holder is told why. The same key limited to loopback does both.
func TestAllowedCIDRsHoldOverNATSAndHTTP(t *testing.T) {
	b := newBoundary(t, nil)
	for _, tc := range []struct {
		cidr string
		ok   bool
	}{{"10.0.0.0/8", false}, {"127.0.0.0/8", true}} {
		k := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", b.aliceID, "--name", "net-"+tc.cidr[:2], "--cidr", tc.cidr, "--json"))
		nc, err := nats.Connect(b.m.ClientURL(), natsauth.ConnectOptions(k.Token)...)
		if err == nil {
			_, err = nc.Request("keyledger.query.settings", nil, 5*time.Second)
			nc.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("--cidr %s over NATS from loopback: %v", tc.cidr, err)
		}
		if !tc.ok {
			if _, errOut, code := cliAt(b.m.ClientURL(), writeToken(t, k.Token), "settings", "show"); code == 0 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "allowed_cidrs") {
				t.Errorf("the CLI with --cidr %s from loopback: exit %d, %s; want why", tc.cidr, code, errOut)
			}
		}
		req, _ := http.NewRequest("POST", b.m.HTTPURL()+"/v1/query/settings", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+k.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if tc.ok && res.StatusCode != http.StatusOK {
			t.Errorf("--cidr %s over HTTP from loopback: %d %s", tc.cidr, res.StatusCode, body)
		}
		if !tc.ok && (res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "127.0.0.1: it is outside the key's allowed_cidrs")) {
			t.Errorf("--cidr %s over HTTP from loopback: %d %s; want 403 naming the address", tc.cidr, res.StatusCode, body)
		}
	}
}

// TestAFloodOfConnectionsDoesNotSaveAStolenKey: the holder of a stolen key
// keeps one connection and opens and closes more connections than the
// callout remembers per key. When an admin revokes the key, the first
// connection is closed all the same, and it cannot act as the key once
// the admin regenerates it.
func TestAFloodOfConnectionsDoesNotSaveAStolenKey(t *testing.T) {
	b := newBoundary(t, nil)
	k := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", b.aliceID, "--name", "stolen", "--json"))
	closed := make(chan struct{})
	first := connectAs(t, b.m, k.Token, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	for i := range natsauth.MaxConnsPerKey + 100 {
		nc, err := nats.Connect(b.m.ClientURL(), append(connectOptions(k.Token), nats.NoReconnect())...)
		if err != nil {
			t.Fatalf("short connection %d: %v", i, err)
		}
		nc.Close()
	}
	mustCLI(t, b.m, b.admin, "key", "revoke", k.KeyID, "--reason", "stolen")
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		mustCLI(t, b.m, b.admin, "key", "regenerate", k.KeyID)
		_, err := first.Request("keyledger.cmd.key.issue", []byte(`{"name":"mine"}`), 5*time.Second)
		t.Fatalf("the first connection is still open 2s after its key was revoked; after regenerate, issuing on it: %v", err)
	}
}

// TestEmbeddedMaxConnsLeavesFilesForHTTP: the embedded server's connection
// limit leaves a quarter of the process's open files, and at least 1,024,
// to everything else.
func TestEmbeddedMaxConnsLeavesFilesForHTTP(t *testing.T) {
	for limit, want := range map[uint64]int{0: 0, 1024: 256, 2048: 1024, 20000: 15000, 1 << 20: 64 * 1024} {
		if got := embeddedMaxConns(limit); got != want {
			t.Errorf("open-file limit %d: max_connections %d, want %d", limit, got, want)
		}
	}
}

// TestAWithdrawnGatewayCanBeMadeAnew: the README's way round, as a
// newcomer ran it: make a credential (DATA/gateway-NAME.token), withdraw
// it, make a new one under the same name. The withdrawn token's file is
// removed with it, so the new one can be written; a bare command line is
// a usage error (exit 2).
func TestAWithdrawnGatewayCanBeMadeAnew(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	gc := func(args ...string) int {
		out.Reset()
		errOut.Reset()
		return Run(context.Background(), append([]string{"gateway-credentials", "--data", dir}, args...), &out, &errOut)
	}
	if code := gc("--name", "edge"); code != 0 {
		t.Fatalf("--name: %d %s", code, errOut.String())
	}
	if code := gc("--withdraw", "edge"); code != 0 || !strings.Contains(out.String(), "removed") {
		t.Fatalf("--withdraw: %d %s %s", code, out.String(), errOut.String())
	}
	if code := gc("--name", "edge"); code != 0 {
		t.Fatalf("--name after --withdraw: %d %s", code, errOut.String())
	}
	if code := gc(); code != exitUsage {
		t.Fatalf("no --name, --from or --withdraw: exit %d, want %d", code, exitUsage)
	}
	if code := gc("--withdraw", "nobody"); code != 1 || !strings.HasPrefix(errOut.String(), "error: not_found: ") {
		t.Fatalf("withdrawing no one: %d %q", code, errOut.String())
	}
}
