package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go"
)

// TestNoSecretLeaks issues and regenerates keys, provokes every kind of
// error with real and damaged tokens (also pasted where IDs belong), and
// then looks for any token or secret in the logs, the error replies, the
// CLI's error output, both streams, every SQLite table and /metrics.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	logs := &syncWriter{}
	m := run(t, newMain(dir, func(m *Main) {
		m.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	admin := filepath.Join(dir, "admin.token")
	adminToken, _ := os.ReadFile(admin)
	tokens := []string{strings.TrimSpace(string(adminToken))}

	// Keys issued over the CLI, then one revoked and regenerated.
	keyID, token := issued(t, m, admin, "--name", "first")
	tokens = append(tokens, token)
	_, second := issued(t, m, admin, "--name", "second", "--scope", "read")
	tokens = append(tokens, second)
	mustCLI(t, m, admin, "key", "revoke", keyID, "--reason", "rotation")
	regen := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "regenerate", keyID, "--json"))
	tokens = append(tokens, regen.Token)
	// The old token of the regenerated key is dead, but still a secret.

	var errorsSeen []string // every error text a caller was shown
	note := func(s string) { errorsSeen = append(errorsSeen, s) }

	// The CLI, with damaged tokens and tokens where IDs belong.
	bad := writeToken(t, token[:len(token)-1]+"x")
	_, errOut, _ := cli(t, m, bad, "key", "list")
	note(errOut)
	for _, args := range [][]string{
		{"key", "show", second}, {"key", "revoke", second}, {"key", "update", second, "--name", "x"},
		{"key", "regenerate", second}, {"key", "delete", second}, {"key", "issue", "--owner", second, "--name", "x"},
		{"user", "roles", second, "--role", "developer"}, {"user", "deactivate", second},
		{"key", "list", "--owner", second}, {"key", "list", "--q", second},
	} {
		out, errOut, _ := cli(t, m, admin, args...)
		note(errOut)
		if args[1] != "list" {
			note(out)
		}
	}
	writeToken(t, second) // a token file the CLI reads is fine; printing it is not

	// HTTP and NATS, with tokens in bodies, field names, headers and IDs.
	post := func(path, header, idem, body string) {
		req, _ := http.NewRequest("POST", m.HTTPURL()+path, strings.NewReader(body))
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.Contains(path, "verify") {
			note(string(data))
		}
	}
	auth := "Bearer " + tokens[0]
	post("/v1/query/key", auth, "", `{"key_id":"`+second+`"}`)
	post("/v1/query/key", auth, "", `{"`+second+`":1}`)
	post("/v1/cmd/key/issue", auth, second, `{"name":"idem"}`)
	post("/v1/cmd/key/issue", auth, "", `{"name":"`+strings.Repeat("n", 200)+second+`"}`)
	post("/v1/cmd/key/revoke", auth, "", `{"key_ids":["`+second+`"],"reason":"x"}`)
	post("/v1/query/keys", "Bearer "+second[:20], "", `{}`)
	post("/v1/query/keys", "Bearer "+second+"x", "", `{}`)
	post("/v1/query/keys", "Basic "+second, "", `{}`)
	post("/v1/query/keys", auth, "", `{"owner":`)
	post("/v1/verify", "", "", `{"key":"`+second+`"}`)
	post("/v1/verify", "", "", `{"key":"`+second[:len(second)-2]+`"}`)
	post("/v1/verify", "", "", `{"key":"`+second+`","ip":"not an ip","scope":"`+second+`"}`)
	// As keyledger's own user, so that the hostile headers reach the service
	// (a client's connection is refused these subjects by NATS first).
	nc, err := nats.Connect(m.ClientURL(), serviceOptionAt(t, m.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, subject := range []string{"keyledger.query.key", "keyledger.cmd.key.update", "keyledger.verify"} {
		msg := nats.NewMsg(subject)
		msg.Data = []byte(`{"key_id":"` + second + `","key":"` + second + "x" + `"}`)
		msg.Header.Set("Authorization", "Bearer "+second[:len(second)-1])
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		note(string(reply.Data) + fmt.Sprint(reply.Header))
	}
	time.Sleep(200 * time.Millisecond) // let the logs and projections settle

	// Where secrets must never be.
	places := map[string]string{"logs": logs.String(), "errors": strings.Join(errorsSeen, "\n")}
	places["streams"] = streamDump(t, m)
	places["ledger.db"] = tableDump(t, filepath.Join(dir, "ledger.db"))
	if res, err := http.Get(m.HTTPURL() + "/metrics"); err == nil {
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			places["/metrics"] = string(data)
		}
	}
	if len(places["streams"]) < 100 || len(places["ledger.db"]) < 100 || len(errorsSeen) < 20 {
		t.Fatalf("too little to search: streams %d, db %d, errors %d", len(places["streams"]), len(places["ledger.db"]), len(errorsSeen))
	}
	for _, tok := range tokens {
		_, secret, ok := keyledger.ParseToken(tok)
		if !ok {
			t.Fatalf("not a token: %q", tok)
		}
		for where, text := range places {
			for _, s := range []string{tok, secret, tok[:len(tok)-10], secret[:20]} {
				if strings.Contains(text, s) {
					i := strings.Index(text, s)
					t.Errorf("a secret (%s...) is in the %s: ...%s...", s[:12], where, text[max(0, i-80):min(len(text), i+len(s)+20)])
				}
			}
		}
	}
}

// streamDump renders every message of both streams, headers and data.
func streamDump(t *testing.T, m *Main) string {
	t.Helper()
	js := jetStreamAt(t, m.ClientURL())
	var b strings.Builder
	for _, name := range []string{"KEYLEDGER", "KEYLEDGER_USAGE"} {
		st, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			msg, err := st.GetMsg(context.Background(), seq)
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "%s %s %v %s\n", name, msg.Subject, msg.Header, msg.Data)
		}
	}
	return b.String()
}

// tableDump renders every row of every table in the SQLite file.
func tableDump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		dumpRows(t, db, `SELECT * FROM "`+table+`"`, table+" ", &b)
	}
	return b.String()
}
