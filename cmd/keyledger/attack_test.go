package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// The NATS trust boundary, attacked from every kind of connection a
// stranger can make: none of these may change, forge or reveal anything.

// boundary is a running server with an admin, a developer (alice) with a
// key, and a gateway credential.
type boundary struct {
	m           *Main
	admin       string // token file
	adminID     string
	aliceID     string
	alice       string // alice's token
	aliceKeyID  string
	gateway     string // gateway credential
	stranger    string // a developer key of someone else
	strangerKey string
}

func newBoundary(t *testing.T, mod func(*Main)) *boundary {
	t.Helper()
	dir := t.TempDir()
	b := &boundary{m: run(t, newMain(dir, mod)), admin: filepath.Join(dir, "admin.token")}
	mustCLI(t, b.m, b.admin, "settings", "set", "--enabled")
	users := map[string]string{}
	for _, name := range []string{"alice", "mallory"} {
		u := decodeJSON[struct {
			ID string `json:"user_id"`
		}](t, mustCLI(t, b.m, b.admin, "user", "add", name, "--role", "developer", "--json"))
		users[name] = u.ID
	}
	b.aliceID = users["alice"]
	for _, u := range decodeJSON[[]struct {
		UserID string `json:"user_id"`
		Name   string `json:"name"`
	}](t, mustCLI(t, b.m, b.admin, "user", "list", "--json")) {
		if u.Name == "admin" {
			b.adminID = u.UserID
		}
	}
	k := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", b.aliceID, "--name", "alice", "--json"))
	b.alice, b.aliceKeyID = k.Token, k.KeyID
	k = decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", users["mallory"], "--name", "mallory", "--json"))
	b.stranger, b.strangerKey = k.Token, k.KeyID
	b.gateway = gatewayToken(t, b.m, "edge")
	return b
}

// attackers are connections of every kind but keyledger's own: keyless
// (with and without a private inbox), another developer's key, the admin's
// own key, and a gateway's read-only credential.
func (b *boundary) attackers(t *testing.T) map[string]*nats.Conn {
	t.Helper()
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	bare, err := nats.Connect(b.m.ClientURL(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bare.Close)
	adminToken, err := os.ReadFile(b.admin)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*nats.Conn{
		"bare":      bare,
		"keyless":   connectAs(t, b.m, "", quiet),
		"other-key": connectAs(t, b.m, b.stranger, quiet),
		"admin-key": connectAs(t, b.m, string(adminToken), quiet),
		"gateway":   connectAs(t, b.m, b.gateway, quiet),
	}
}

// TestSpiesSeeNoRequestsOrReplies: wildcard subscribers on every kind of
// connection see no request (its Authorization header) and no reply (an
// issued token) of anyone else; only notifications reach them.
func TestSpiesSeeNoRequestsOrReplies(t *testing.T) {
	b := newBoundary(t, nil)
	spied := []string{">", "*.>", "_INBOX.>", "_INBOX_*.>", "_INBOX_" + b.aliceKeyID + ".>", "_INBOX_" + b.aliceKeyID + "_*.>", natsauth.KeyInbox(b.alice) + ".>", "_INBOX_anon_*.>",
		"_INBOX_gw_*.>", "_R_.>", "keyledger.>", "keyledger.cmd.>", "keyledger.verify", "$SYS.>", "$SYS.REQ.USER.AUTH", "$JS.>", "$SRV.>"}
	seen := map[string]chan *nats.Msg{}
	for name, nc := range b.attackers(t) {
		seen[name] = make(chan *nats.Msg, 10000)
		for _, subj := range spied {
			if _, err := nc.ChanSubscribe(subj, seen[name]); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if _, err := nc.ChanSubscribe("keyledger.notify.>", seen[name]); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}

	// Victims: the admin issues through the CLI, alice over raw NATS with
	// her key on a fresh connection, and a keyless gateway verifies.
	issued := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--name", "victim", "--json"))
	nc := connectAs(t, b.m, b.alice)
	msg := nats.NewMsg("keyledger.cmd.key.issue")
	msg.Data = []byte(`{"name":"alice-2"}`)
	msg.Header.Set("Authorization", "Bearer "+b.alice)
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil || !strings.Contains(string(reply.Data), `"token":"kl_`) {
		t.Fatalf("alice's issue: %v %s", err, reply.Data)
	}
	verifyNATS(t, connectAs(t, b.m, ""), `{"key":"`+issued.Token+`"}`, nil)
	mustCLI(t, b.m, b.admin, "key", "revoke", issued.KeyID)

	// Collect for 300 ms, and on until the revocation's notification has
	// arrived (the positive control), at most 5 s.
	notified := 0
	for start := time.Now(); time.Since(start) < 300*time.Millisecond || (notified == 0 && time.Since(start) < 5*time.Second); time.Sleep(50 * time.Millisecond) {
		notified += b.drainSpies(t, seen)
	}
	if notified == 0 {
		t.Fatal("no spy received even the notifications: the test observes nothing")
	}
}

// drainSpies checks what the spies received so far and returns how many
// notifications were among it.
func (b *boundary) drainSpies(t *testing.T, seen map[string]chan *nats.Msg) int {
	t.Helper()
	notified := 0
	for name, ch := range seen {
	drain:
		for {
			var m *nats.Msg
			select {
			case m = <-ch:
			default:
				break drain
			}
			if strings.Contains(string(m.Data), "kl_") || strings.Contains(m.Header.Get("Authorization"), "kl_") {
				t.Errorf("%s saw a token on %s", name, m.Subject)
			}
			// A gateway reads the stream's secret hashes by design; no client may.
			if strings.Contains(string(m.Data), "secret_sha256") && name != "gateway" {
				t.Errorf("%s saw a secret hash on %s", name, m.Subject)
			}
			if !strings.HasPrefix(m.Subject, "keyledger.notify.") {
				t.Errorf("%s saw %s: %.80s", name, m.Subject, m.Data)
				continue
			}
			notified++
		}
	}
	return notified
}

// TestForgedEventsAreRefused: a KeyIssued for the admin published on the
// event subject, junk on the usage subject and a forged notification are
// refused; nothing is stored, and the forged token opens nothing.
func TestForgedEventsAreRefused(t *testing.T) {
	b := newBoundary(t, nil)
	js := ledgerJetStream(t, b.m)
	ctx := context.Background()
	before := streamState(t, js)
	gw := connectAs(t, b.m, b.gateway)
	forgedNotice := make(chan *nats.Msg, 100)
	if _, err := gw.ChanSubscribe("keyledger.notify.>", forgedNotice); err != nil {
		t.Fatal(err)
	}
	gw.Flush()

	keyID := ulid.Make().String()
	var secret [32]byte
	rand.Read(secret[:])
	token, hash := keyledger.NewToken(keyID, secret)
	forged, _ := events.Encode(&events.KeyIssued{Meta: events.Meta{At: time.Now().UTC(), Actor: b.adminID},
		KeyID: keyID, Owner: b.adminID, Name: "forged", SecretHash: hash})
	revoked, _ := events.Encode(&events.KeyRevoked{Meta: events.Meta{At: time.Now().UTC(), Actor: b.adminID},
		KeyID: b.aliceKeyID, Owner: b.aliceID, Reason: "forged"})
	for name, nc := range b.attackers(t) {
		nc.Publish("keyledger.events.user."+b.adminID+"."+keyID+".issued", forged)
		if _, err := nc.Request("keyledger.events.user."+b.adminID+"."+keyID+".issued", forged, 300*time.Millisecond); err == nil {
			t.Errorf("%s: the event stream acknowledged a forged event", name)
		}
		nc.Publish("keyledger.usage."+keyID, []byte("junk"))
		nc.Publish("keyledger.notify.revoked."+b.aliceKeyID, revoked)
		nc.Flush()
	}
	time.Sleep(200 * time.Millisecond)
	if after := streamState(t, js); after != before {
		t.Fatalf("streams changed: %v, was %v", after, before)
	}
	if _, err := js.Stream(ctx, "KEYLEDGER"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-forgedNotice:
		t.Fatalf("a forged notification reached a gateway: %s", m.Subject)
	default:
	}
	if res := verifyNATS(t, connectAs(t, b.m, ""), `{"key":"`+token+`"}`, nil); res.Valid || res.Code != "not_found" {
		t.Fatalf("the forged token verifies: %+v", res)
	}
	if res := verifyNATS(t, connectAs(t, b.m, ""), `{"key":"`+b.alice+`"}`, nil); !res.Valid {
		t.Fatalf("a forged revocation ended alice's key: %+v", res)
	}
	if _, err := nats.Connect(b.m.ClientURL(), nats.Token(token)); err == nil {
		t.Fatal("the forged token opened a NATS connection")
	}
}

// streamState is what a stranger must not change: the event stream's
// message count and last sequence, and the usage stream's messages that
// keyledger did not write. Usage itself may grow while a test runs (each
// instance flushes its counts once a minute, management calls included),
// so every usage message must be a UsageRecorded from a keyledger instance.
func streamState(t *testing.T, js jetstream.JetStream) [3]uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := js.Stream(ctx, "KEYLEDGER_USAGE")
	if err != nil {
		t.Fatal(err)
	}
	uinfo, err := usage.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var foreign uint64
	for seq := uinfo.State.FirstSeq; seq > 0 && seq <= uinfo.State.LastSeq; seq++ {
		msg, err := usage.GetMsg(ctx, seq)
		if err != nil {
			continue // none stored at seq
		}
		if ev, err := events.Decode(msg.Data); err != nil || ev.Action() != "used" {
			foreign++
		}
	}
	return [3]uint64{info.State.Msgs, info.State.LastSeq, foreign}
}

// TestNobodyElseAnswersForKeyledger: responders on keyledger.verify and
// the command subjects, in keyledger's own queue group, answer nobody.
func TestNobodyElseAnswersForKeyledger(t *testing.T) {
	b := newBoundary(t, nil)
	for _, nc := range b.attackers(t) {
		for _, subj := range []string{"keyledger.verify", "keyledger.cmd.>", "keyledger.query.>"} {
			nc.QueueSubscribe(subj, "keyledger", func(m *nats.Msg) { m.Respond([]byte(`{"valid":true,"key_id":"FORGED"}`)) })
			nc.Subscribe(subj, func(m *nats.Msg) { m.Respond([]byte(`{"valid":true,"key_id":"FORGED"}`)) })
		}
		nc.Flush()
	}
	client := connectAs(t, b.m, "")
	alice := connectAs(t, b.m, b.alice)
	for range 30 {
		if res := verifyNATS(t, client, `{"key":"kl_nothing"}`, nil); res.Valid || res.Code != "malformed" {
			t.Fatalf("verify answered by an impostor: %+v", res)
		}
		reply, err := alice.Request("keyledger.query.settings", []byte(`{}`), 5*time.Second)
		if err != nil || strings.Contains(string(reply.Data), "FORGED") {
			t.Fatalf("query answered by an impostor: %v %s", err, reply.Data)
		}
	}
}

// TestStreamsAreOutOfReach: no client can read, edit, remove or purge the
// streams, or add a consumer; a gateway can read the event stream and
// change nothing.
func TestStreamsAreOutOfReach(t *testing.T) {
	b := newBoundary(t, nil)
	ledger := ledgerJetStream(t, b.m)
	before := streamState(t, ledger)
	for name, nc := range b.attackers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			js, _ := jetstream.New(nc)
			// A refused request only times out, so each gets its own short wait.
			short := func() context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			}
			try := func(what string, err error) {
				if err == nil {
					t.Errorf("%s succeeded", what)
				}
			}
			for _, stream := range []string{"KEYLEDGER", "KEYLEDGER_USAGE"} {
				cfg := jetstream.StreamConfig{Name: stream, Subjects: []string{"keyledger.>"}, MaxMsgs: 1}
				_, err := js.UpdateStream(short(), cfg)
				try("stream edit "+stream, err)
				try("stream rm "+stream, js.DeleteStream(short(), stream))
				_, err = js.CreateStream(short(), jetstream.StreamConfig{Name: "SPY", Subjects: []string{"keyledger.events.>"}})
				try("stream add over keyledger's subjects", err)
				if name == "gateway" && stream == "KEYLEDGER" {
					// A gateway may create no consumer; one that pushed
					// into keyledger's subjects would store junk there.
					for i, to := range []string{"keyledger.usage." + b.aliceKeyID, "keyledger.events.user." + b.aliceID + "._.registered"} {
						js.CreateOrUpdatePushConsumer(short(), stream, jetstream.ConsumerConfig{Durable: fmt.Sprint("push", i), DeliverSubject: to})
					}
					time.Sleep(500 * time.Millisecond)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					st, err := js.Stream(ctx, stream)
					if err != nil {
						t.Fatalf("a gateway cannot read the event stream: %v", err)
					}
					if _, err := st.GetMsg(ctx, 1); err != nil {
						t.Fatalf("a gateway cannot get an event: %v", err)
					}
					try("purge", st.Purge(short()))
					try("delete a message", st.DeleteMsg(short(), 1))
					continue
				}
				_, err = js.CreateOrUpdateConsumer(short(), stream, jetstream.ConsumerConfig{Durable: "spy"})
				try("consumer add "+stream, err)
				_, err = js.Stream(short(), stream)
				try("stream info "+stream, err)
				_, err = nc.Request("$JS.API.DIRECT.GET."+stream, []byte(`{"seq":1}`), 300*time.Millisecond)
				try("direct get "+stream, err)
				_, err = nc.Request("$JS.API.STREAM.MSG.GET."+stream, []byte(`{"seq":1}`), 300*time.Millisecond)
				try("stream get "+stream, err)
			}
		})
	}
	t.Cleanup(func() {
		if after := streamState(t, ledger); after != before {
			t.Errorf("streams changed: %v, was %v", after, before)
		}
		for _, name := range []string{"KEYLEDGER", "KEYLEDGER_USAGE"} {
			st, _ := ledger.Stream(context.Background(), name)
			info, err := st.Info(context.Background())
			if err != nil || info.Config.MaxMsgs != -1 || !info.Config.DenyPurge || !info.Config.DenyDelete {
				t.Errorf("%s after the attacks: %v %+v", name, err, info.Config)
			}
			if _, err := st.Consumer(context.Background(), "spy"); err == nil {
				t.Errorf("%s has the consumer an attacker added", name)
			}
		}
	})
}

// TestStrangersCannotCloseConnections: the system request that closes a
// connection is keyledger's alone.
func TestStrangersCannotCloseConnections(t *testing.T) {
	b := newBoundary(t, nil)
	victim := connectAs(t, b.m, b.alice, nats.NoReconnect())
	cid, err := victim.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	kick := fmt.Sprintf("$SYS.REQ.SERVER.%s.KICK", b.m.ns.ID())
	for name, nc := range b.attackers(t) {
		// The connection lists would name every client's key and address.
		for _, subj := range []string{kick, "$SYS.REQ.SERVER.PING.KICK", "$SYS.REQ.USER.AUTH",
			"$SYS.REQ.ACCOUNT.CLIENTS.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"} {
			if _, err := nc.Request(subj, fmt.Appendf(nil, `{"cid":%d}`, cid), 300*time.Millisecond); err == nil {
				t.Errorf("%s got an answer on %s", name, subj)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	if victim.IsClosed() || !victim.IsConnected() {
		t.Fatal("a stranger closed alice's connection")
	}
}

// TestGatewaysCreateNoConsumers: a gateway credential may create no
// consumer of any kind on KEYLEDGER (the subject that creates one creates
// any kind, and a push consumer would deliver the stream to any subject of
// the ledger account, clients' notifications among them), nor touch
// keyledger's own; a gateway follows the stream with direct gets all the
// same, catching up and then live.
func TestGatewaysCreateNoConsumers(t *testing.T) {
	b := newBoundary(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	gwConn := connectAs(t, b.m, b.gateway, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	js, err := jetstream.New(gwConn)
	if err != nil {
		t.Fatal(err)
	}
	ledger := ledgerJetStream(t, b.m)
	st, err := ledger.Stream(ctx, "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	before := st.CachedInfo().State.Consumers
	for name, cfg := range map[string]jetstream.ConsumerConfig{
		"durable":   {Durable: "gw-durable"},
		"ephemeral": {InactiveThreshold: time.Minute},
		"push to a client subject": {Name: "gw-push", DeliverSubject: "keyledger.clients.notify.revoked." + b.aliceKeyID,
			AckPolicy: jetstream.AckNonePolicy},
	} {
		if _, err := js.CreateOrUpdateConsumer(short(), "KEYLEDGER", cfg); err == nil {
			t.Errorf("a gateway created a %s consumer", name)
		}
	}
	if _, err := js.OrderedConsumer(short(), "KEYLEDGER", jetstream.OrderedConsumerConfig{}); err == nil {
		t.Error("a gateway created an ordered consumer")
	}
	for name := range st.ListConsumers(ctx).Info() {
		if err := js.DeleteConsumer(short(), "KEYLEDGER", name.Name); err == nil {
			t.Errorf("a gateway deleted keyledger's consumer %s", name.Name)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != before {
		t.Errorf("consumers on KEYLEDGER: %d, were %d", info.State.Consumers, before)
	}
	// What a gateway is for still works: it catches up, then follows live.
	gw, err := gateway.New(ctx, gateway.Config{Conn: gwConn})
	if err != nil {
		t.Fatalf("a gateway cannot follow the stream: %v", err)
	}
	defer gw.Close()
	if res := gw.Verify(b.alice, "", ""); !res.Valid {
		t.Fatalf("gateway after catching up: %+v", res)
	}
	k := decodeJSON[keyJSON](t, mustCLI(t, b.m, b.admin, "key", "issue", "--owner", b.aliceID, "--name", "late", "--json"))
	for gw.Verify(k.Token, "", "").Code == "not_found" && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if res := gw.Verify(k.Token, "", ""); !res.Valid {
		t.Fatalf("a key issued after the gateway started: %+v", res)
	}
}

// TestConnectionsHoldBoundedSubscriptions: a connection the callout lets
// in (here, with no credentials) cannot pile up subscriptions on the
// server; past the limit the server refuses them, and the connection
// still works.
func TestConnectionsHoldBoundedSubscriptions(t *testing.T) {
	b := newBoundary(t, nil)
	refused := make(chan error, 1)
	nc := connectAs(t, b.m, "", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if res := verifyNATS(t, nc, `{"key":"`+b.alice+`"}`, nil); !res.Valid { // its reply inbox first
		t.Fatalf("verify: %+v", res)
	}
	for i := range natsauth.MaxSubscriptions + 50 {
		if _, err := nc.Subscribe(fmt.Sprintf("keyledger.notify.revoked.%d", i), func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	select {
	case err := <-refused:
		if !strings.Contains(strings.ToLower(err.Error()), "maximum subscriptions") {
			t.Fatalf("refused with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%d subscriptions on one connection were all accepted", natsauth.MaxSubscriptions+50)
	}
	if res := verifyNATS(t, nc, `{"key":"`+b.alice+`"}`, nil); !res.Valid {
		t.Fatalf("verify after the limit: %+v", res)
	}
}

// TestRequestsAcrossImportsAreForgottenSoon: the server remembers each
// request that crosses an import, while its asker listens, until its
// answer is complete; for answers that may come in parts ($SRV.>, a
// gateway's batched direct gets) that is up to twice the export's response
// threshold. A caller who floods such requests holds that memory for
// seconds, not the default two to four minutes.
func TestRequestsAcrossImportsAreForgottenSoon(t *testing.T) {
	t.Parallel() // it mostly waits
	b := newBoundary(t, nil)
	ledger, err := b.m.ns.LookupAccount(natsauth.LedgerAccount)
	if err != nil {
		t.Fatal(err)
	}
	dev := connectAs(t, b.m, b.alice)
	gw := connectAs(t, b.m, b.gateway)
	// The server forgets a request as soon as nobody listens for its
	// answer; the flooder listens.
	for nc, inbox := range map[*nats.Conn]string{dev: natsauth.KeyInbox(b.alice) + ".flood", gw: "_INBOX_gw_edge.flood"} {
		if _, err := nc.Subscribe(inbox, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 500 {
		dev.PublishRequest("$SRV.PING", natsauth.KeyInbox(b.alice)+".flood", nil)
		gw.PublishRequest("$JS.API.DIRECT.GET.KEYLEDGER", "_INBOX_gw_edge.flood", fmt.Appendf(nil, `{"seq":%d}`, 1+i%5))
	}
	dev.Flush()
	gw.Flush()
	if n := ledger.NumPendingAllResponses(); n < 500 {
		t.Fatalf("%d requests remembered right after the flood; the test floods nothing", n)
	}
	deadline := time.Now().Add(12 * time.Second)
	for ledger.NumPendingAllResponses() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still remembered after 12 s: %d for $SRV.>, %d for direct gets", ledger.NumPendingResponses("$SRV.>"),
				ledger.NumPendingResponses("$JS.API.DIRECT.GET.KEYLEDGER"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
