package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	kclient "github.com/keyledger/keyledger/client"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clock is a test clock that starts now and moves only when told.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *clock) Add(d time.Duration) { c.offset.Add(int64(d)) }

// newMain configures (without running) a server in dir.
func newMain(dir string, mod func(*Main)) *Main {
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Stdout, m.Logger = io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil))
	if mod != nil {
		mod(m)
	}
	return m
}

func run(t *testing.T, m *Main) *Main {
	t.Helper()
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rememberDataDir(m.ClientURL(), m.DataDir)
	return m
}

// issued enables keys and issues one as the admin, returning its ID and token.
func issued(t *testing.T, m *Main, admin string, args ...string) (string, string) {
	t.Helper()
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, append([]string{"key", "issue", "--json"}, args...)...))
	return k.KeyID, k.Token
}

func verifyNATS(t *testing.T, nc *nats.Conn, body string, hdr nats.Header) verifier.Result {
	t.Helper()
	var res verifier.Result
	token := strings.TrimPrefix(hdr.Get("Authorization"), "Bearer ")
	err := kclient.New(nc).Call(context.Background(), "verify", token, "", json.RawMessage(body), &res)
	var e *keyledger.Error
	if errors.As(err, &e) {
		return verifier.Result{Code: "error:" + e.Code}
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

func verifyHTTP(t *testing.T, m *Main, body, bearer string) (int, verifier.Result) {
	t.Helper()
	req, _ := http.NewRequest("POST", m.HTTPURL()+"/v1/verify", strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r verifier.Result
	json.NewDecoder(res.Body).Decode(&r)
	return res.StatusCode, r
}

func TestVerifyOverNATSAndHTTP(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "gw", "--scope", "read", "--cidr", "10.0.0.0/8")
	nc := connectAs(t, m, "")
	for _, tc := range []struct{ name, body, code string }{
		{"valid", `{"key":"` + tok + `","scope":"read","ip":"10.1.1.1"}`, ""},
		{"missing_scope", `{"key":"` + tok + `","scope":"admin","ip":"10.1.1.1"}`, "missing_scope"},
		{"forbidden_ip", `{"key":"` + tok + `","ip":"8.8.8.8"}`, "forbidden_ip"},
		{"malformed", `{"key":"` + tok[:len(tok)-1] + `"}`, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for transport, res := range map[string]verifier.Result{
				"nats": verifyNATS(t, nc, tc.body, nil),
				"http": func() verifier.Result { _, r := verifyHTTP(t, m, tc.body, ""); return r }(),
			} {
				if res.Code != tc.code || res.Valid != (tc.code == "") || res.Seq == 0 {
					t.Fatalf("%s: %+v; want code %q and a seq", transport, res, tc.code)
				}
				if res.Valid && (res.KeyID != id || len(res.Scopes) != 1) {
					t.Fatalf("%s: %+v", transport, res)
				}
			}
		})
	}
	if status, _ := verifyHTTP(t, m, `{"token":"x"}`, ""); status != 400 {
		t.Fatalf("unknown field: HTTP %d, want 400", status)
	}

	// With --verify-token-required, callers present a key of their own.
	m.Close()
	m = run(t, newMain(dir, func(m *Main) { m.VerifyTokenRequired = true }))
	body := `{"key":"` + tok + `","scope":"read","ip":"10.1.1.1"}`
	if status, _ := verifyHTTP(t, m, body, ""); status != 401 {
		t.Fatalf("no bearer: HTTP %d, want 401", status)
	}
	adminTok, err := os.ReadFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	if status, res := verifyHTTP(t, m, body, strings.TrimSpace(string(adminTok))); status != 200 || !res.Valid {
		t.Fatalf("with bearer: HTTP %d %+v", status, res)
	}
	// The bearer is a use of the caller's own key: its allowed_cidrs hold.
	if status, _ := verifyHTTP(t, m, body, tok); status != 403 {
		t.Fatalf("with a bearer limited to 10.0.0.0/8, from loopback: HTTP %d, want 403", status)
	}
}

func TestRevocationReachesSubscribersGatewaysAndWatch(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "gw")
	nc := connectAs(t, m, "")
	sub, err := nc.SubscribeSync("keyledger.notify.revoked.*")
	if err != nil {
		t.Fatal(err)
	}
	gwToken := gatewayToken(t, m, "edge")
	gwConn := connectAs(t, m, gwToken)
	gwSub, err := gwConn.SubscribeSync("keyledger.notify.revoked.*")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(context.Background(), gateway.Config{Conn: gwConn})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	if res := gw.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("gateway before revoke: %+v", res)
	}
	mustCLI(t, m, admin, "key", "revoke", id, "--reason", "leaked")

	// The instance that replied answers revoked from then on.
	if res := verifyNATS(t, nc, `{"key":"`+tok+`"}`, nil); res.Code != "revoked" {
		t.Fatalf("verify after the revoke reply: %+v", res)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Anyone may subscribe, with no key: they learn which key ended, how
	// and when, and nothing of who ended it, from where, whose it was or why.
	var n map[string]any
	json.Unmarshal(msg.Data, &n)
	if msg.Subject != "keyledger.notify.revoked."+id || n["key_id"] != id || n["type"] != "KeyRevoked" || n["at"] == nil ||
		msg.Header.Get("Nats-Sequence") == "" {
		t.Fatalf("notification %s %s", msg.Subject, msg.Data)
	}
	// Exactly these fields: none private, none empty.
	if len(n) != 4 || n["v"] == nil {
		t.Errorf("a keyless subscriber's notice holds %d fields, want type, v, at and key_id: %s", len(n), msg.Data)
	}
	// A gateway, in account GATEWAYS, gets the stored event itself.
	full, err := gwSub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Owner, Reason string }
	json.Unmarshal(full.Data, &f)
	if full.Subject != msg.Subject || f.Reason != "leaked" || f.Owner == "" || full.Header.Get("Nats-Sequence") != msg.Header.Get("Nats-Sequence") {
		t.Fatalf("gateway notification %s %s", full.Subject, full.Data)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gw.Verify(tok, "", "").Code != "revoked" {
		if time.Now().After(deadline) {
			t.Fatalf("gateway still answers %+v", gw.Verify(tok, "", ""))
		}
		time.Sleep(time.Millisecond)
	}

	// watch --since replays what a subscriber missed.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out bytes.Buffer
	Run(ctx, []string{"watch", "--since", "1", "--json", "--server", m.ClientURL(), "--token-file", writeToken(t, gwToken)}, &out, io.Discard)
	if !strings.Contains(out.String(), `"action":"revoked","key_id":"`+id+`"`) || !strings.Contains(out.String(), `"reason":"leaked"`) {
		t.Fatalf("watch --since 1 printed %q", out.String())
	}
}

// TestExactlyOneKeyExpiredWithTwoInstances runs two servers on one NATS
// server, moves their shared clock past the expiry of 20 keys, and has both
// sweep at the same instant, in the same order: exactly one KeyExpired per
// key is stored, and the background sweepers add none.
func TestExactlyOneKeyExpiredWithTwoInstances(t *testing.T) {
	ns := natstest.RunServer(t)
	var clk clock
	mod := func(m *Main) { m.NATSURL, m.Now, m.SweepEvery = ns.ClientURL(), clk.Now, 50*time.Millisecond }
	dirs := []string{t.TempDir(), t.TempDir()}
	a := run(t, newMain(dirs[0], mod))
	b := run(t, newMain(dirs[1], mod))
	admin := filepath.Join(dirs[0], "admin.token")
	if _, _, code := cliAt(ns.ClientURL(), filepath.Join(dirs[1], "admin.token"), "settings", "show"); code == 0 {
		t.Fatal("both instances bootstrapped an admin")
	}
	mustCLI(t, a, admin, "settings", "set", "--enabled")
	var toks []string
	for i := range 20 {
		k := decodeJSON[keyJSON](t, mustCLI(t, a, admin, "key", "issue", "--json", "--name", fmt.Sprint("short-", i), "--expires-in", "PT2M"))
		toks = append(toks, k.Token)
	}
	clk.Add(3 * time.Minute)
	var wg sync.WaitGroup
	for _, m := range []*Main{a, b} {
		wg.Go(func() { m.sweep(context.Background()) })
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // background sweeps on both instances too
	_, js := natstest.Connect(t, ns)
	store := events.NewStore(js)
	if err := store.Bind(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _, err := store.Load(context.Background(), "keyledger.events.user.*.expired")
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	for _, r := range recs {
		perKey[r.Event.KeyRef()]++
	}
	if len(perKey) != 20 || len(recs) != 20 {
		t.Fatalf("%d KeyExpired events over %d keys; want exactly one for each of 20", len(recs), len(perKey))
	}
	for _, m := range []*Main{a, b} {
		if _, res := verifyHTTP(t, m, `{"key":"`+toks[0]+`"}`, ""); res.Code != "expired" {
			t.Fatalf("instance %s: %+v", m.Instance, res)
		}
	}
	if k := decodeJSON[keyJSON](t, mustCLI(t, b, admin, "key", "show", toks[0][3:29], "--json")); k.Status != "expired" {
		t.Fatalf("key status %s", k.Status)
	}
}

func TestUsageCountedUnderConcurrentLoad(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "busy", "--scope", "read")
	const workers, each = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			nc, err := nats.Connect(m.ClientURL(), natsauth.ConnectOptions("")...)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			for i := range each {
				scope := "read"
				if i%5 == 0 {
					scope = "write" // denied: missing_scope
				}
				if w%2 == 0 {
					verifyNATS(t, nc, fmt.Sprintf(`{"key":%q,"scope":%q}`, tok, scope), nil)
				} else {
					verifyHTTP(t, m, fmt.Sprintf(`{"key":%q,"scope":%q}`, tok, scope), "")
				}
			}
		})
	}
	wg.Wait()
	m.Close() // flushes the last minute of usage
	m = run(t, newMain(dir, nil))
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "ledger.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var valid, denied int
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.QueryRow(`SELECT COALESCE(SUM(valid), 0), COALESCE(SUM(missing_scope), 0) FROM usage WHERE key_id = ?`, id).Scan(&valid, &denied)
		if valid+denied == workers*each || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if valid != workers*each*4/5 || denied != workers*each/5 {
		t.Fatalf("usage valid %d, missing_scope %d; want %d and %d", valid, denied, workers*each*4/5, workers*each/5)
	}
	if k := decodeJSON[struct {
		LastUsedAt *time.Time `json:"last_used_at"`
	}](t, mustCLI(t, m, admin, "key", "show", id, "--json")); k.LastUsedAt == nil {
		t.Fatal("last_used_at not set after use")
	}
	// Usage is recorded per key and minute, never per request: 2,000
	// verifications make one event (two if a minute boundary fell between).
	st, err := ledgerJetStream(t, m).Stream(context.Background(), "KEYLEDGER_USAGE")
	if err != nil {
		t.Fatal(err)
	}
	// Only this key's: the admin's key is used too (management calls count).
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter("keyledger.usage."+id))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["keyledger.usage."+id]; n < 1 || n > 2 {
		t.Fatalf("%d usage events for %d verifications of one key", n, workers*each)
	}
}

// An owner command replies once its events are stored and in the verify
// index, not once SQLite holds them: with the projections held, a new key
// verifies, its revocation holds the moment the revoke replies, and a read
// on the instance waits for the projections, so the caller still sees their
// own writes.
func TestCommandsReplyBeforeTheProjectionsAndReadsWaitForThem(t *testing.T) {
	dir := t.TempDir()
	var hold atomic.Bool
	release := make(chan struct{})
	m := run(t, newMain(dir, func(m *Main) {
		m.BeforeCommit = func(uint64) {
			if hold.Load() {
				<-release
			}
		}
	}))
	t.Cleanup(func() { // runs before Close, which would wait on the held projector
		select {
		case <-release:
		default:
			close(release)
		}
	})
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	hold.Store(true)
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--json", "--name", "held"))
	body := `{"key":"` + k.Token + `"}`
	_, issuedRes := verifyHTTP(t, m, body, "")
	if !issuedRes.Valid {
		t.Fatalf("a key issued while the projections are held does not verify: %+v", issuedRes)
	}
	mustCLI(t, m, admin, "key", "revoke", k.KeyID)
	_, res := verifyHTTP(t, m, body, "")
	if res.Valid || res.Code != "revoked" {
		t.Fatalf("after the revoke replied, with the projections held: %+v; want revoked", res)
	}
	// seq names a moment the answer holds at: after the revocation.
	if res.Seq <= issuedRes.Seq {
		t.Fatalf("the revoked answer holds at seq %d, the valid one before it at %d", res.Seq, issuedRes.Seq)
	}
	shown := make(chan string, 1)
	go func() {
		out, errOut, _ := cli(t, m, admin, "key", "show", "--json", k.KeyID)
		shown <- out + errOut
	}()
	select {
	case out := <-shown:
		t.Fatalf("key show answered before the projections held the revoke: %s", out)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if got := decodeJSON[keyJSON](t, <-shown); got.Status != keyledger.StatusRevoked {
		t.Fatalf("key show after the projections caught up: %+v; want revoked", got)
	}
}

// TestWatchTellsAClientOnlyWhichKeyEnded: `keyledger watch` with an
// admin's key (a client) prints each revocation live, as the key ID, the
// action and the time; the reason stays in the stream.
func TestWatchTellsAClientOnlyWhichKeyEnded(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out syncWriter
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, []string{"watch", "--server", m.ClientURL(), "--token-file", admin}, &out, io.Discard)
	}()
	// The watch subscribes at some point: revoke keys until it has printed one.
	for i := 0; !strings.Contains(out.String(), "revoked"); i++ {
		if ctx.Err() != nil {
			t.Fatalf("watch printed %q", out.String())
		}
		id, _ := issued(t, m, admin, "--name", fmt.Sprint("k", i))
		mustCLI(t, m, admin, "key", "revoke", id, "--reason", "leaked in a public repo")
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	f := strings.Fields(line)
	if len(f) != 4 || f[2] != "revoked" || !keyledger.IsID(f[3]) {
		t.Errorf("watch printed %q; want SEQ AT revoked KEY_ID", line)
	}
	if strings.Contains(out.String(), "leaked") || strings.Contains(out.String(), "owner") {
		t.Errorf("a client was told more than which key ended: %q", out.String())
	}
}

// TestVerifyErrorsStayOutOfServiceStats: anyone may read keyledger's
// micro stats ($SRV.STATS). A verification refused for its body, here a
// token sent as a field name and a long text of the caller's choosing,
// shows there as its code alone.
func TestVerifyErrorsStayOutOfServiceStats(t *testing.T) {
	m := MustRunMain(t, "")
	token := adminToken(t, m)
	nc := connectAs(t, m, token)
	planted := strings.Repeat("visit evil.example ", 100)
	for _, body := range []string{`{"` + token + `":1}`, `{"` + planted + `":1}`} {
		if _, err := nc.Request("keyledger.verify", []byte(body), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // micro counts a request once its handler returns
	reply, err := nc.Request("$SRV.STATS.keyledger", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stats := string(reply.Data)
	if !strings.Contains(stats, `"num_errors":2`) && !strings.Contains(stats, `"num_errors":1`) {
		t.Fatalf("the refused verifications are not counted: %.500s", stats)
	}
	if strings.Contains(stats, token[3:20]) || strings.Contains(stats, "evil.example") {
		t.Fatalf("the stats repeat what the caller sent: %.500s", stats)
	}
}
