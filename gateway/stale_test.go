package gateway_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/nats-io/nats.go"
)

// link is a TCP relay between a gateway and its server that a test can
// cut and restore, as a network partition would.
type link struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newLink(t *testing.T, target string) *link {
	l := &link{t: t, target: target}
	l.listen("127.0.0.1:0")
	t.Cleanup(l.cut)
	return l
}

func (l *link) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.ln, l.addr = ln, ln.Addr().String()
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns = append(l.conns, c, s)
			l.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// cut closes every relayed connection and refuses new ones.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// restore listens again on the same address.
func (l *link) restore() { l.listen(l.addr) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never: " + what)
		}
	}
}

// TestAGatewayCutOffPastMaxStaleRefuses: a gateway cut off from the
// stream hears of no revocation. Past MaxStale it refuses every key; once
// back and caught up it answers again, and a key revoked while it was
// away is refused, never valid.
func TestAGatewayCutOffPastMaxStaleRefuses(t *testing.T) {
	l := newLedger(t)
	id, tok, _ := l.issue()
	_, other, _ := l.issue()
	link := newLink(t, l.nc.ConnectedAddr())
	nc, err := nats.Connect("nats://"+link.addr, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	g, err := gateway.New(t.Context(), gateway.Config{Conn: nc, MaxStale: 300 * time.Millisecond, DisableUsageReports: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if res := g.Verify(tok, "", ""); !res.Valid || g.Stale() != 0 {
		t.Fatalf("connected: %+v, stale %v", res, g.Stale())
	}
	link.cut()
	waitFor(t, "stale after the link is cut", func() bool { return g.Stale() > 0 })
	seq := l.append(&events.KeyRevoked{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "U"})
	waitFor(t, "unavailable past MaxStale", func() bool { return g.Verify(other, "", "").Code == gateway.CodeUnavailable })
	if res := g.Verify(tok, "", ""); res.Valid {
		t.Fatalf("a key revoked while the gateway was cut off: %+v", res)
	}
	link.restore()
	waitFor(t, "current again after the link is back", func() bool { return g.Stale() == 0 })
	if g.Seq() < seq {
		t.Fatalf("current at seq %d, before the revocation at %d", g.Seq(), seq)
	}
	if res := g.Verify(tok, "", ""); res.Valid || res.Code != "revoked" {
		t.Fatalf("the key revoked while away, once back: %+v", res)
	}
	if res := g.Verify(other, "", ""); !res.Valid {
		t.Fatalf("another key, once back: %+v", res)
	}
}

// TestAGatewayClosedForGoodStopsAtOnce: when its connection closes for
// good (here: cut off, and its reconnection attempts fail, as when
// the servers refuse a withdrawn credential), the gateway refuses at once
// and says why. Before, it answered from its index until a pending read
// of the stream timed out.
func TestAGatewayClosedForGoodStopsAtOnce(t *testing.T) {
	l := newLedger(t)
	_, tok, _ := l.issue()
	link := newLink(t, l.nc.ConnectedAddr())
	nc, err := nats.Connect("nats://"+link.addr, nats.ReconnectWait(200*time.Millisecond), nats.MaxReconnects(5))
	if err != nil {
		t.Fatal(err)
	}
	g, err := start(t, nc)
	if err != nil {
		t.Fatal(err)
	}
	link.cut()
	waitFor(t, "the connection closed", nc.IsClosed)
	select {
	case <-g.Done():
	case <-time.After(time.Second):
		t.Fatal("a gateway whose connection closed for good was not done within a second")
	}
	if res := g.Verify(tok, "", ""); res.Code != gateway.CodeUnavailable {
		t.Fatalf("after: %+v", res)
	}
	if !errors.Is(g.Err(), nats.ErrConnectionClosed) {
		t.Fatalf("Err: %v", g.Err())
	}
}
