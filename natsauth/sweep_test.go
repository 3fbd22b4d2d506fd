package natsauth

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// calloutServer is a real nats-server running AccountsConf with a Callout
// answering on it, whose keys are those in valid (key ID → owner): a key
// holds while valid names it and tag names the secret it was issued with.
type calloutServer struct {
	url     string
	callout *Callout
	mu      sync.Mutex
	valid   map[string]string // key ID → tag of its current secret
}

func newCalloutServer(tb testing.TB, configure ...func(*Callout)) *calloutServer {
	tb.Helper()
	keys, ns := runAccountsServer(tb)
	return openCallout(tb, keys, ns.ClientURL(), configure...)
}

// runAccountsServer starts a nats-server running AccountsConf for new
// keys, with no callout answering yet.
func runAccountsServer(tb testing.TB) (*Keys, *server.Server) {
	tb.Helper()
	keys, err := LoadOrCreateKeys(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := ServerOptions(keys)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	tb.Cleanup(ns.Shutdown)
	return keys, ns
}

// answersCallout reports whether ns sends authorization requests to a
// callout: whether a subscription on its auth callout subject, its own
// or another node's, is known there.
func answersCallout(tb testing.TB, ns *server.Server) bool {
	tb.Helper()
	acc, err := ns.LookupAccount(LedgerAccount)
	if err != nil {
		tb.Fatal(err)
	}
	return acc.SubscriptionInterest(server.AuthCalloutSubject)
}

// newCalloutCluster is newCalloutServer on a 3-node cluster, the callout
// connected to the first node; urls are the nodes' client URLs.
func newCalloutCluster(tb testing.TB, configure ...func(*Callout)) (*calloutServer, []string) {
	tb.Helper()
	keys, err := LoadOrCreateKeys(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	nodes := natstest.RunClusterWith(tb, 3, func() *server.Options {
		opts, err := ServerOptions(keys)
		if err != nil {
			tb.Fatal(err)
		}
		return opts
	})
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	s := openCallout(tb, keys, urls[0], configure...)
	// Open returns once the first node has the callout's subscription;
	// the others learn of it over their routes a moment later, and until
	// then refuse whoever connects to them.
	for i, n := range nodes {
		waitFor(tb, fmt.Sprintf("node %d does not know of the callout", i+1), func() bool { return answersCallout(tb, n) })
	}
	return s, urls
}

func openCallout(tb testing.TB, keys *Keys, url string, configure ...func(*Callout)) *calloutServer {
	tb.Helper()
	pub, _ := keys.Service.PublicKey()
	nc, err := nats.Connect(url, nats.Nkey(pub, keys.Service.Sign))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	s := &calloutServer{url: url, valid: map[string]string{}}
	c := NewCallout(*keys)
	c.SweepEvery = 0 // the tests sweep when they choose
	c.CheckKey = func(_ context.Context, token string, _ Client) (*Identity, error) {
		keyID, secret, ok := keyledger.ParseToken(token)
		_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(keyID, secret))
		if !ok || !s.holds(keyID, tag) {
			return nil, keyledger.Errorf(keyledger.EUnauthenticated, "no such key")
		}
		return &Identity{KeyID: keyID, Owner: "01KA0000000000000000000000"}, nil
	}
	c.Holds = s.holds
	for _, f := range configure {
		f(c)
	}
	if err := c.Open(nc); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	s.callout = c
	return s
}

func (s *calloutServer) holds(keyID, tag string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tag != "" && s.valid[keyID] == tag
}

// end makes keyID hold no more, as a revoke would.
func (s *calloutServer) end(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.valid, keyID)
}

// loseMemory makes the callout forget every connection it let in, as a
// restart of its instance would.
func (s *calloutServer) loseMemory() {
	s.callout.mu.Lock()
	defer s.callout.mu.Unlock()
	s.callout.conns, s.callout.keyOf, s.callout.hostOf = map[string]*keyConns{}, map[conn]string{}, map[conn]hostConn{}
}

// issue makes a key (or gives keyID a new secret) and returns its token.
func (s *calloutServer) issue(keyID string) string {
	var secret [32]byte
	rand.Read(secret[:])
	token, _ := keyledger.NewToken(keyID, secret)
	_, sec, _ := keyledger.ParseToken(token)
	_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(keyID, sec))
	s.mu.Lock()
	s.valid[keyID] = tag
	s.mu.Unlock()
	return token
}

func (s *calloutServer) connect(tb testing.TB, token string, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	// The default 2 s to connect is short for a suite run under -race on
	// two cores (it timed out once there); the callout answers well inside 10.
	nc, err := nats.Connect(s.url, append(ConnectOptions(token), append(opts, nats.NoReconnect(), nats.Timeout(10*time.Second))...)...)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// waitFor polls cond for up to two seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("after 2s: %s", what)
		}
	}
}

// TestClosedConnectionsAreForgotten: a key's holder opens one connection
// and then opens and closes more than the callout remembers per key. The
// callout forgets each one as it closes, so the first is still tracked and
// is closed when the key ends: it did not survive the end of its key by
// being pushed out of the callout's memory.
func TestClosedConnectionsAreForgotten(t *testing.T) {
	s := newCalloutServer(t)
	const keyID = "01KB0000000000000000000001"
	token := s.issue(keyID)
	closed := make(chan struct{})
	first := s.connect(t, token, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))

	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range (MaxConnsPerKey + 100) / 8 {
				nc, err := nats.Connect(s.url, append(ConnectOptions(token), nats.NoReconnect())...)
				if err != nil {
					failed.Add(1)
					continue
				}
				nc.Close()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of the short connections were refused; each closed before the next", n)
	}
	waitFor(t, "the closed connections are still remembered", func() bool { return s.callout.tracked(keyID) == 1 })

	s.end(keyID)
	s.callout.KeyEnded(keyID)
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the first connection is still open 2s after its key ended")
	}
	if !first.IsClosed() {
		t.Fatal("closed handler ran, but the connection is open")
	}
}

// TestAKeyHoldsAtMostMaxConnsPerKey: past the bound, a key's next
// connection is refused (no older one is forgotten to make room), and
// once one closes, the key connects again.
func TestAKeyHoldsAtMostMaxConnsPerKey(t *testing.T) {
	c := NewCallout(Keys{})
	for i := range MaxConnsPerKey {
		if !c.track(conn{"S", uint64(i)}, "K", "T", "O") {
			t.Fatalf("connection %d refused below the bound", i)
		}
	}
	if c.track(conn{"S", MaxConnsPerKey}, "K", "T", "O") {
		t.Fatal("a connection past the bound was let in")
	}
	if !c.track(conn{"S", 0}, "OTHER", "T", "O") {
		t.Fatal("another key was refused")
	}
	c.forget(conn{"S", 7})
	if !c.track(conn{"S", MaxConnsPerKey}, "K", "T", "O") {
		t.Fatal("refused after one of the key's connections closed")
	}
	if n := c.tracked("K"); n != MaxConnsPerKey {
		t.Fatalf("tracked %d, want %d", n, MaxConnsPerKey)
	}
}

// TestSweepClosesConnectionsWhoseKeyNoLongerHolds: a connection the
// callout does not know of (made before this instance started, or one a
// kick missed) is closed by the sweep once its key ends or is given a new
// secret; connections of keys that hold, and keyless ones, stay open. The
// sweep pages through more connections than one answer lists.
func TestSweepClosesConnectionsWhoseKeyNoLongerHolds(t *testing.T) {
	s := newCalloutServer(t)
	const revoked, regenerated, kept = "01KB0000000000000000000002", "01KB0000000000000000000003", "01KB0000000000000000000004"
	tokens := map[string]string{revoked: s.issue(revoked), regenerated: s.issue(regenerated), kept: s.issue(kept)}
	conns := map[string]*nats.Conn{}
	for id, tok := range tokens {
		conns[id] = s.connect(t, tok)
	}
	var keyless []*nats.Conn
	for range 2*connzPage + 10 {
		keyless = append(keyless, s.connect(t, ""))
	}
	// Lose the callout's memory of them, as a restart would.
	s.loseMemory()

	s.end(revoked)
	s.issue(regenerated)
	if err := s.callout.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revoked key's connection is open", conns[revoked].IsClosed)
	waitFor(t, "the connection made with the old secret is open", conns[regenerated].IsClosed)
	if conns[kept].IsClosed() {
		t.Fatal("a connection whose key holds was closed")
	}
	for i, nc := range keyless {
		if nc.IsClosed() {
			t.Fatalf("keyless connection %d was closed", i)
		}
	}
}

// TestSweepForgetsConnectionsThatAreGone: a tracked connection whose close
// went unnoticed (no disconnect event) is forgotten by the next sweep, so
// it does not count against its key's bound for ever.
func TestSweepForgetsConnectionsThatAreGone(t *testing.T) {
	s := newCalloutServer(t)
	const keyID = "01KB0000000000000000000005"
	s.connect(t, s.issue(keyID))
	waitFor(t, "the connection is not tracked", func() bool { return s.callout.tracked(keyID) == 1 })
	s.callout.mu.Lock()
	var server string
	for cn := range s.callout.keyOf {
		server = cn.server
	}
	s.callout.mu.Unlock()
	gone := conn{server, 999999}
	s.callout.admit(gone, "192.0.2.1", time.Now().Add(-time.Minute))
	s.callout.track(gone, keyID, "T", "O")
	if err := s.callout.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.callout.tracked(keyID); n != 1 {
		t.Fatalf("tracked %d connections after the sweep, want the 1 open", n)
	}
	if n := s.callout.hosts["192.0.2.1"]; n != 0 {
		t.Fatalf("%d connections counted from an address with none open", n)
	}
	// A listing is paged by position, and connections closing meanwhile
	// shift others out of it: one left out but open is kept.
	s.callout.forgetGone(context.Background(), map[conn]bool{}, map[string]bool{server: true}, time.Now().Add(time.Second))
	if n := s.callout.tracked(keyID); n != 1 {
		t.Fatalf("an open connection left out of a listing was forgotten (%d tracked)", n)
	}
}

// TestAnAddressHoldsAtMostMaxConnsPerAddress: one address's connections,
// with keys or without, are refused past the bound, and let in again as
// they close; loopback and other addresses are not held to it.
func TestAnAddressHoldsAtMostMaxConnsPerAddress(t *testing.T) {
	c := NewCallout(Keys{})
	now := time.Now()
	for i := range MaxConnsPerAddress {
		if !c.admit(conn{"S", uint64(i)}, "203.0.113.9", now) {
			t.Fatalf("connection %d refused below the bound", i)
		}
	}
	if c.admit(conn{"S", 100000}, "203.0.113.9", now) || c.admit(conn{"T", 1}, "::ffff:203.0.113.9", now) {
		t.Fatal("a connection past the bound was let in")
	}
	if !c.admit(conn{"S", 100001}, "198.51.100.7", now) || !c.admit(conn{"S", 100002}, "127.0.0.1", now) {
		t.Fatal("another address was refused")
	}
	// An IPv6 /64 is one address; loopback, IPv6 too, is not limited.
	for i := range MaxConnsPerAddress {
		if !c.admit(conn{"V", uint64(i)}, fmt.Sprintf("2001:db8:1:2::%x", i+1), now) || !c.admit(conn{"L", uint64(i)}, "::1", now) {
			t.Fatalf("connection %d from a /64 or ::1 refused below the bound", i)
		}
	}
	if c.admit(conn{"V", 100000}, "2001:db8:1:2:ffff::1", now) {
		t.Fatal("a new address in a full /64 was let in")
	}
	if !c.admit(conn{"L", 100000}, "::1", now) {
		t.Fatal("loopback ::1 was held to the bound")
	}
	c.forget(conn{"S", 3})
	if !c.admit(conn{"S", 100003}, "203.0.113.9", now) {
		t.Fatal("refused after one of the address's connections closed")
	}
}

// TestTheCalloutRefusesAnAddressPastItsBound: keyless connections from one
// address are let in up to MaxConnsPerAddress and refused past it, saying
// why; a refused key does not count against its address.
func TestTheCalloutRefusesAnAddressPastItsBound(t *testing.T) {
	keys, err := LoadOrCreateKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := NewCallout(*keys)
	c.CheckKey = func(context.Context, string, Client) (*Identity, error) {
		return nil, keyledger.Errorf(keyledger.EUnauthenticated, "no such key")
	}
	user, _ := nkeys.CreateUser()
	userKey, _ := user.PublicKey()
	req := func(cid uint64, token string) (string, string) {
		r := jwt.NewAuthorizationRequestClaims("UABC")
		r.UserNkey = userKey
		r.Server.ID, r.ClientInformation.ID, r.ClientInformation.Host = "S", cid, "203.0.113.9"
		r.ConnectOptions.Token = token
		return c.authorize(r)
	}
	var secret [32]byte
	forged, _ := keyledger.NewToken("01KB0000000000000000000009", secret)
	for i := range MaxConnsPerAddress + 50 {
		if _, reason := req(uint64(1_000_000+i), forged); reason == "" {
			t.Fatal("a forged key was let in")
		}
	}
	for i := range MaxConnsPerAddress {
		if _, reason := req(uint64(i), ""); reason != "" {
			t.Fatalf("keyless connection %d refused: %s", i, reason)
		}
	}
	if _, reason := req(MaxConnsPerAddress, ""); !strings.Contains(reason, "from this address") {
		t.Fatalf("past the bound: %q, want a refusal naming the address", reason)
	}
}

// TestSweepWaitsForTheStreamBeforeClosing: a key issued a moment ago on
// another instance is not yet known here; the sweep catches up with the
// stream before it closes anything, and then leaves that key's connection
// open. If it cannot catch up, it closes nothing.
func TestSweepWaitsForTheStreamBeforeClosing(t *testing.T) {
	s := newCalloutServer(t)
	const keyID = "01KB0000000000000000000006"
	nc := s.connect(t, s.issue(keyID))
	s.mu.Lock()
	tag := s.valid[keyID]
	delete(s.valid, keyID) // not yet known to this instance
	s.mu.Unlock()

	s.callout.CatchUp = func(context.Context) error { return context.DeadlineExceeded }
	if err := s.callout.Sweep(context.Background()); err == nil {
		t.Fatal("a sweep that could not catch up reported no error")
	}
	s.callout.CatchUp = func(context.Context) error {
		s.mu.Lock()
		s.valid[keyID] = tag // the issue event arrives
		s.mu.Unlock()
		return nil
	}
	if err := s.callout.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if nc.IsClosed() {
		t.Fatal("the connection of a key issued elsewhere a moment ago was closed")
	}
}

// TestSweepReachesEveryServerOfACluster: on a 3-node cluster, connections
// the callout never saw, made to each node, are all closed by one sweep
// once their key ends (each server lists its own, paged past one answer);
// a key that holds keeps its connection on every node. A key's end
// closes its tracked connections on whichever node they are.
func TestSweepReachesEveryServerOfACluster(t *testing.T) {
	s, urls := newCalloutCluster(t)
	const ended, kept, tracked = "01KB0000000000000000000007", "01KB0000000000000000000008", "01KB000000000000000000000A"
	endedTok, keptTok, trackedTok := s.issue(ended), s.issue(kept), s.issue(tracked)
	var endedConns, keptConns, trackedConns []*nats.Conn
	for _, url := range urls {
		at := func(tok string) *nats.Conn {
			nc, err := nats.Connect(url, append(ConnectOptions(tok), nats.NoReconnect())...)
			if err != nil {
				t.Fatalf("connect to %s: %v", url, err)
			}
			t.Cleanup(nc.Close)
			return nc
		}
		endedConns, keptConns, trackedConns = append(endedConns, at(endedTok)), append(keptConns, at(keptTok)), append(trackedConns, at(trackedTok))
		for range connzPage + 5 {
			at("")
		}
	}
	waitFor(t, "a tracked connection is not tracked", func() bool { return s.callout.tracked(tracked) == len(urls) })
	s.end(tracked)
	s.callout.KeyEnded(tracked)
	for i, nc := range trackedConns {
		waitFor(t, fmt.Sprintf("the ended key's tracked connection on node %d is open", i+1), nc.IsClosed)
	}

	s.loseMemory()
	s.end(ended)
	if err := s.callout.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, nc := range endedConns {
		waitFor(t, fmt.Sprintf("the ended key's connection on node %d is open", i+1), nc.IsClosed)
	}
	for i, nc := range keptConns {
		if nc.IsClosed() {
			t.Fatalf("a connection whose key holds, on node %d, was closed", i+1)
		}
	}
}

// TestAnOldSecretsConnectionCannotReadTheNewOnesInbox: a connection made
// with a key's secret before the key was regenerated, were it still open,
// may subscribe to its own inbox only, not to the inbox of connections
// made with the new secret, where their replies (new tokens among them) go.
func TestAnOldSecretsConnectionCannotReadTheNewOnesInbox(t *testing.T) {
	s := newCalloutServer(t)
	const keyID = "01KB000000000000000000000B"
	oldTok := s.issue(keyID)
	refused := make(chan string, 4)
	old := s.connect(t, oldTok, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err.Error() }))
	newTok := s.issue(keyID)
	if KeyInbox(oldTok) == KeyInbox(newTok) || !strings.HasPrefix(KeyInbox(newTok), "_INBOX_"+keyID+"_") {
		t.Fatalf("inboxes %q and %q", KeyInbox(oldTok), KeyInbox(newTok))
	}
	for _, subject := range []string{KeyInbox(newTok) + ".>", "_INBOX_" + keyID + ".>", "_INBOX_" + keyID + "_*.>"} {
		if _, err := old.Subscribe(subject, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		select {
		case why := <-refused:
			if !strings.Contains(why, "Permissions Violation") {
				t.Fatalf("subscribing to %s: %s", subject, why)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("the old secret's connection subscribed to %s", subject)
		}
	}
	if _, err := old.Subscribe(KeyInbox(oldTok)+".x", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	old.Flush()
	select {
	case why := <-refused:
		t.Fatalf("its own inbox was refused: %s", why)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestARegenerateEndsOnlyTheOldSecretsConnections: when a key is given a
// new secret, its connections made with the old one are closed and those
// made with the new one stay: the owner's new connection, made a moment
// after the regenerate, must not lose the reply it is waiting for.
func TestARegenerateEndsOnlyTheOldSecretsConnections(t *testing.T) {
	s := newCalloutServer(t)
	const keyID = "01KB000000000000000000000C"
	old := s.connect(t, s.issue(keyID))
	fresh := s.connect(t, s.issue(keyID)) // the regenerated secret
	s.callout.KeyEnded(keyID)
	waitFor(t, "the old secret's connection is open", old.IsClosed)
	time.Sleep(recheck + 200*time.Millisecond) // past the second pass
	if fresh.IsClosed() {
		t.Fatal("the new secret's connection was closed by the regenerate")
	}
	if n := s.callout.tracked(keyID); n != 1 {
		t.Fatalf("%d connections tracked, want the new one", n)
	}
}
