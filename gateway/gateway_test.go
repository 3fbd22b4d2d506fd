package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/web"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// ledger is a real KEYLEDGER stream with keys enabled.
type ledger struct {
	t     *testing.T
	nc    *nats.Conn
	store *events.Store
	seq   uint64
}

func newLedger(t *testing.T) *ledger {
	nc, js := natstest.Connect(t, natstest.RunServer(t))
	l := &ledger{t: t, nc: nc, store: events.NewStore(js)}
	if err := l.store.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := keyledger.DefaultSettings()
	s.Enabled = true
	l.append(&events.SettingsChanged{Meta: events.Meta{At: time.Now()}, Settings: s})
	l.append(&events.UserRegistered{Meta: events.Meta{At: time.Now()}, UserID: "U", Name: "u", Kind: "person"})
	return l
}

func (l *ledger) append(e events.Event) uint64 {
	l.t.Helper()
	seq, err := l.store.Append(context.Background(), events.SubjectAll, l.seq, "", []events.Event{e})
	if err != nil {
		l.t.Fatal(err)
	}
	l.seq = seq
	return seq
}

// issue stores a new key and returns its ID, token and sequence.
func (l *ledger) issue() (string, string, uint64) {
	id := ulid.Make().String()
	var secret [32]byte
	copy(secret[:], id)
	tok, hash := keyledger.NewToken(id, secret)
	seq := l.append(&events.KeyIssued{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U", Name: "k", SecretHash: hash})
	return id, tok, seq
}

// junk stores an event this build cannot decode, as a newer build might.
func (l *ledger) junk() {
	l.t.Helper()
	msg := &nats.Msg{Subject: "keyledger.events.user.U._.renamed_in_v9", Data: []byte(`{"type":"KeyTeleported","v":9}`)}
	if _, err := l.store.JS.PublishMsg(context.Background(), msg); err != nil {
		l.t.Fatal(err)
	}
	l.seq++
}

// start runs gateway.New, failing the test if it does not return in 10s.
func start(t *testing.T, nc *nats.Conn) (*gateway.Gateway, error) {
	t.Helper()
	type result struct {
		g   *gateway.Gateway
		err error
	}
	done := make(chan result, 1)
	go func() {
		g, err := gateway.New(context.Background(), gateway.Config{Conn: nc})
		done <- result{g, err}
	}()
	select {
	case r := <-done:
		if r.g != nil {
			t.Cleanup(func() { r.g.Close() })
		}
		return r.g, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("gateway.New has not returned after 10s")
		return nil, nil
	}
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestGatewayFailsOnAnUndecodableEventInsteadOfHanging(t *testing.T) {
	l := newLedger(t)
	l.issue()
	l.junk()
	l.issue()
	g, err := start(t, l.nc)
	if err == nil || g != nil || !errors.Is(err, events.ErrUndecodable) {
		t.Fatalf("gateway over an undecodable event: %v, %v; want an undecodable-event error", g, err)
	}
}

func TestGatewayReportsAnUndecodableEventAfterCatchingUp(t *testing.T) {
	l := newLedger(t)
	_, tok, _ := l.issue()
	g, err := start(t, l.nc)
	if err != nil {
		t.Fatal(err)
	}
	if res := g.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("before: %+v", res)
	}
	l.junk()
	select {
	case <-g.Done():
		if !errors.Is(g.Err(), events.ErrUndecodable) {
			t.Fatalf("stopped with %v", g.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway neither stopped nor reported the undecodable event")
	}
}

func TestGatewayTrustsOnlyTheStream(t *testing.T) {
	l := newLedger(t)
	id, tok, issuedSeq := l.issue()
	other, otherTok, _ := l.issue()
	g, err := start(t, l.nc)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(subject string, seq uint64) {
		t.Helper()
		body, _ := events.Encode(&events.KeyRevoked{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U"})
		m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
		m.Header.Set("Nats-Sequence", strconv.FormatUint(seq, 10))
		if err := l.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	forged("keyledger.notify.revoked."+id, 18446744073709551615) // past the stream's end
	forged("keyledger.notify.revoked."+id, issuedSeq)            // a real event, but not a revocation
	forged("keyledger.notify.deleted."+id, l.seq+1)              // the next event, which will be another key's
	forged("keyledger.notify.revoked.*", l.seq+1)
	forged("keyledger.notify.revoked.é", l.seq+1)
	if err := l.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A genuine revocation of another key, stored after the forgeries, is
	// applied; by then the forgeries have been handled.
	l.append(&events.KeyRevoked{Meta: events.Meta{At: time.Now()}, KeyID: other, Owner: "U"})
	eventually(t, "the genuine revocation reaches the gateway", func() bool { return g.Verify(otherTok, "", "").Code == "revoked" })
	time.Sleep(50 * time.Millisecond)
	if res := g.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("a forged notification ended a valid key: %+v", res)
	}
	// A genuine revocation of this key reaches the gateway.
	l.append(&events.KeyRevoked{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U"})
	eventually(t, "the revocation reaches the gateway", func() bool { return g.Verify(tok, "", "").Code == "revoked" })
}

// restartable is a NATS server that can be stopped and started again on the
// same port and store.
type restartable struct {
	opts *server.Options
	ns   *server.Server
}

func newRestartable(t *testing.T) *restartable {
	r := &restartable{opts: &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}}
	r.start(t)
	r.opts.Port = r.ns.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { r.ns.Shutdown(); r.ns.WaitForShutdown() })
	return r
}

func (r *restartable) start(t *testing.T) {
	t.Helper()
	ns, err := server.NewServer(r.opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	r.ns = ns
}

func (r *restartable) restart(t *testing.T) {
	t.Helper()
	r.ns.Shutdown()
	r.ns.WaitForShutdown()
	r.start(t)
}

// TestGatewayFollowsAgainAfterLosingTheStream: after a server restart, keys
// issued later still reach the gateway (an issue has no notification: only
// following the stream brings it).
func TestGatewayFollowsAgainAfterLosingTheStream(t *testing.T) {
	srv := newRestartable(t)
	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	js, err := jetstream.New(connect())
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{t: t, store: events.NewStore(js)}
	if err := l.store.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := keyledger.DefaultSettings()
	s.Enabled = true
	l.append(&events.SettingsChanged{Meta: events.Meta{At: time.Now()}, Settings: s})
	l.append(&events.UserRegistered{Meta: events.Meta{At: time.Now()}, UserID: "U", Name: "u", Kind: "person"})
	g, err := start(t, connect())
	if err != nil {
		t.Fatal(err)
	}
	srv.restart(t)
	var tok string
	eventually(t, "the ledger can append again", func() bool {
		id := ulid.Make().String()
		var secret [32]byte
		copy(secret[:], id)
		token, hash := keyledger.NewToken(id, secret)
		seq, err := l.store.Append(context.Background(), events.SubjectAll, l.seq, "", []events.Event{
			&events.KeyIssued{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U", Name: "k", SecretHash: hash}})
		if err != nil {
			return false
		}
		l.seq, tok = seq, token
		return true
	})
	deadline := time.Now().Add(20 * time.Second)
	for !g.Verify(tok, "", "").Valid {
		if time.Now().After(deadline) {
			t.Fatalf("a key issued after the restart never reached the gateway (at seq %d of %d): %+v", g.Seq(), l.seq, g.Verify(tok, "", ""))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGatewayFollowsAgainAfterTheStreamIsRestored: an operator restores the
// stream (deleted and stored again, as from a backup); the gateway follows
// the restored stream and sees keys issued afterwards.
func TestGatewayFollowsAgainAfterTheStreamIsRestored(t *testing.T) {
	l := newLedger(t)
	g, err := start(t, l.nc)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(l.nc)
	if err := js.DeleteStream(context.Background(), "KEYLEDGER"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	l.seq = 0
	if err := l.store.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := keyledger.DefaultSettings()
	s.Enabled = true
	l.append(&events.SettingsChanged{Meta: events.Meta{At: time.Now()}, Settings: s})
	l.append(&events.UserRegistered{Meta: events.Meta{At: time.Now()}, UserID: "U", Name: "u", Kind: "person"})
	_, tok, _ := l.issue()
	deadline := time.Now().Add(15 * time.Second)
	for !g.Verify(tok, "", "").Valid {
		if time.Now().After(deadline) {
			t.Fatalf("a key issued after the restore never reached the gateway (at seq %d of %d)", g.Seq(), l.seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAGatewayCutOffForGoodSaysSoAndRefuses: a gateway whose connection
// is closed for good (its credential withdrawn, the servers refuse it)
// no longer learns of revocations. It reports it (Done, Err) and refuses
// every verification; before, it answered valid for a key revoked after.
func TestAGatewayCutOffForGoodSaysSoAndRefuses(t *testing.T) {
	l := newLedger(t)
	_, tok, _ := l.issue()
	nc, err := nats.Connect(l.nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	g, err := start(t, nc)
	if err != nil {
		t.Fatal(err)
	}
	if res := g.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("before: %+v", res)
	}
	nc.Close()
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway does not report losing its connection for good")
	}
	if !errors.Is(g.Err(), nats.ErrConnectionClosed) {
		t.Fatalf("Err: %v", g.Err())
	}
	if res := g.Verify(tok, "", ""); res.Valid || res.Code != gateway.CodeUnavailable {
		t.Fatalf("after: %+v", res)
	}
	// Served directly, as the README offers, the index refuses too.
	if got := serveIndex(t, g, tok); !strings.Contains(got, `"code":"unavailable"`) {
		t.Fatalf("the index served by web.VerifyHandler answered %s", got)
	}
}

// serveIndex asks web.VerifyHandler, serving g's index, to verify tok.
func serveIndex(t *testing.T, g *gateway.Gateway, tok string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	web.VerifyHandler(g.Index(), nil).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/verify", strings.NewReader(`{"key":"`+tok+`"}`)))
	return rec.Body.String()
}

// TestAClosedGatewayRefuses: after Close the index no longer follows the
// stream, so neither Verify nor the index served directly answers valid.
func TestAClosedGatewayRefuses(t *testing.T) {
	l := newLedger(t)
	_, tok, _ := l.issue()
	g, err := start(t, l.nc)
	if err != nil {
		t.Fatal(err)
	}
	if got := serveIndex(t, g, tok); !strings.Contains(got, `"valid":true`) {
		t.Fatalf("before Close: %s", got)
	}
	g.Close()
	if res := g.Verify(tok, "", ""); res.Valid || res.Code != gateway.CodeUnavailable {
		t.Fatalf("Verify after Close: %+v", res)
	}
	if got := serveIndex(t, g, tok); !strings.Contains(got, `"code":"unavailable"`) {
		t.Fatalf("the index after Close answered %s", got)
	}
}

// TestAGatewayLeavesIdleToKeyledger: a gateway sees only its own
// verifications. A key used every day elsewhere (or before the gateway
// started) looks idle to it, so it must not end a key for inactivity on
// its own: it refuses the key once keyledger, which sees every use,
// records the expiry.
func TestAGatewayLeavesIdleToKeyledger(t *testing.T) {
	l := newLedger(t)
	s := keyledger.DefaultSettings()
	s.Enabled, s.InactivityExpiry = true, "P1D"
	l.append(&events.SettingsChanged{Meta: events.Meta{At: time.Now()}, Settings: s})
	id := ulid.Make().String()
	var secret [32]byte
	copy(secret[:], id)
	tok, hash := keyledger.NewToken(id, secret)
	l.append(&events.KeyIssued{Meta: events.Meta{At: time.Now().Add(-48 * time.Hour)}, KeyID: id, Owner: "U", Name: "used-elsewhere", SecretHash: hash})
	g, err := start(t, l.nc)
	if err != nil {
		t.Fatal(err)
	}
	if res := g.Verify(tok, "", ""); !res.Valid {
		t.Fatalf("a key issued 2 days ago, under a 1-day inactivity policy, with no expiry recorded: %+v", res)
	}
	seq := l.append(&events.KeyExpired{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U", Reason: "inactivity"})
	deadline := time.Now().Add(5 * time.Second)
	for g.Seq() < seq && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if res := g.Verify(tok, "", ""); res.Valid || res.Code != "expired" {
		t.Fatalf("after keyledger recorded the expiry: %+v", res)
	}
}
