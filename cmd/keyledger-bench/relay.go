package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// relaySubject is where the relay ceiling's clients send their requests;
// the last token is the client's index.
const relaySubject = "keyledger.bench.relay"

// relayCeiling measures the least any service keeping DESIGN.md's command
// contract can cost: a client's NATS request reaches a service in a queue
// group of commands.DefaultWorkers subscriptions (as keyledger's are), which
// appends an event-sized message with the expected last sequence of the
// client's subject, exactly as bareCeiling does, and replies with the
// sequence. Nothing decides, validates or projects, and the requests stay in
// the service's account (an API client's cross an import). A command's throughput
// divided by this is what keyledger itself costs; divided by bareCeiling it
// also carries the request and reply that the contract adds to every append.
func (b *Bench) relayCeiling(ctx context.Context, t *target) (result, error) {
	svc, err := connectService(t.bareURL, t.bareDir)
	if err != nil {
		return result{}, err
	}
	defer svc.Close()
	if err := ensureBareStream(ctx, svc, t.replicas); err != nil {
		return result{}, err
	}
	js, err := jetstream.New(svc)
	if err != nil {
		return result{}, err
	}
	payload, err := eventSized()
	if err != nil {
		return result{}, err
	}
	type aggregate struct {
		mu      sync.Mutex
		subject string
		filter  string
		last    uint64
	}
	aggs := make([]*aggregate, b.Clients)
	for i := range aggs {
		owner := ulid.Make().String()
		aggs[i] = &aggregate{subject: "keyledger.bench.bare." + owner + ".k.issued", filter: "keyledger.bench.bare." + owner + ".>"}
	}
	handle := func(m *nats.Msg) {
		i, err := strconv.Atoi(m.Subject[len(relaySubject)+1:])
		if err != nil || i < 0 || i >= len(aggs) {
			_ = m.Respond([]byte("error: no such aggregate"))
			return
		}
		a := aggs[i]
		a.mu.Lock()
		defer a.mu.Unlock()
		msg := expectedAppend(a.subject, a.filter, a.last, payload)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ack, err := js.PublishMsg(pctx, msg)
		if err != nil {
			_ = m.Respond([]byte("error: " + err.Error()))
			return
		}
		a.last = ack.Sequence
		_ = m.Respond(strconv.AppendUint(nil, ack.Sequence, 10))
	}
	for range commands.DefaultWorkers {
		sub, err := svc.QueueSubscribe(relaySubject+".*", "relay", handle)
		if err != nil {
			return result{}, fmt.Errorf("relay subscription: %w", err)
		}
		defer sub.Unsubscribe()
	}
	if err := svc.Flush(); err != nil {
		return result{}, err
	}
	clients := make([]*nats.Conn, b.Clients)
	for i := range clients {
		if clients[i], err = connectService(t.bareURL, t.bareDir); err != nil {
			return result{}, err
		}
		defer clients[i].Close()
	}
	// A request about the size of an issue command's body.
	body := []byte(`{"owner":"` + ulid.Make().String() + `","name":"ci-deploy-eu-west","description":"deploys from the CI pipeline","scopes":["orders:read","orders:write"],"expires_in":"P90D"}`)
	res := closedLoop(ctx, b.Clients, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		var reply *nats.Msg
		took, err := timed(func() (err error) {
			reply, err = clients[i].RequestWithContext(ctx, fmt.Sprintf("%s.%d", relaySubject, i), body)
			return err
		})
		if err == nil && strings.HasPrefix(string(reply.Data), "error: ") {
			err = errors.New(string(reply.Data))
		}
		return took, err
	})
	return res, nil
}
