package natsauth

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// TestOpenReturnsOnceTheServerSendsItRequests: when Open returns, the
// server already sends the callout its authorization requests. Open
// returned with its subscription still on the way, and a client that
// connected at once with a key just issued was refused (Authorization
// Violation) by a server that had asked no one.
func TestOpenReturnsOnceTheServerSendsItRequests(t *testing.T) {
	keys, ns := runAccountsServer(t)
	pub, _ := keys.Service.PublicKey()
	nc, err := nats.Connect(ns.ClientURL(), nats.Nkey(pub, keys.Service.Sign))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if answersCallout(t, ns) {
		t.Fatal("the server sends authorization requests before any callout opened")
	}
	c := NewCallout(*keys)
	c.SweepEvery, c.WatchGatewaysEvery = 0, 0
	if err := c.Open(nc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !answersCallout(t, ns) { // no waiting: that is the point
		t.Fatal("Open returned before the server sends it the authorization requests")
	}
}
