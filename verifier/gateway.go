package verifier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Gateway verifies keys inside a gateway process, from its own copy of the
// index: it replays the KEYLEDGER event stream (secret hashes only, never
// secrets), follows it, and applies revocations, deletions and expiries
// pushed on keyledger.notify.* the moment they are stored.
type Gateway struct {
	index  *Index
	subs   []*nats.Subscription
	cancel context.CancelFunc
	done   chan error
}

// endSubjects are the notifications that end a key's access.
var endSubjects = []string{"keyledger.notify.revoked.*", "keyledger.notify.deleted.*", "keyledger.notify.expired.*"}

// NewGateway connects a gateway verifier over nc and returns once its copy
// of the index holds everything the stream held when it started.
func NewGateway(ctx context.Context, nc *nats.Conn) (*Gateway, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	store := events.NewStore(js)
	if err := store.Bind(ctx); err != nil {
		return nil, err
	}
	g := &Gateway{index: NewIndex(), done: make(chan error, 1)}
	for _, subj := range endSubjects {
		sub, err := nc.Subscribe(subj, g.notified)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.subs = append(g.subs, sub)
	}
	target, err := store.LastSeq(ctx)
	if err != nil {
		g.Close()
		return nil, err
	}
	caughtUp := make(chan struct{})
	var once sync.Once
	ready := func() { once.Do(func() { close(caughtUp) }) }
	fctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() {
		g.done <- store.Follow(fctx, 1, func(batch []events.Recorded) error {
			for _, r := range batch {
				g.index.Apply(r)
			}
			last := batch[len(batch)-1].Seq
			g.index.SetSeq(last)
			if last >= target {
				ready()
			}
			return nil
		})
	}()
	if target == 0 {
		ready()
	}
	select {
	case <-caughtUp:
		return g, nil
	case err := <-g.done:
		g.Close()
		return nil, fmt.Errorf("gateway: following the stream: %w", err)
	case <-ctx.Done():
		g.Close()
		return nil, ctx.Err()
	}
}

// notified applies an access-ending event as soon as it is published.
func (g *Gateway) notified(m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		return
	}
	ev, err := events.Decode(m.Data)
	if err != nil {
		return
	}
	g.index.Apply(events.Recorded{Seq: seq, Subject: m.Subject, Event: ev})
}

// Verify answers from the gateway's own index, as the server would.
func (g *Gateway) Verify(token, scope, ip string) Result { return g.index.Verify(token, scope, ip) }

// Seq is the last stream sequence the gateway has applied in order.
func (g *Gateway) Seq() uint64 { return g.index.Seq() }

// Close stops following and unsubscribes.
func (g *Gateway) Close() error {
	for _, s := range g.subs {
		s.Unsubscribe()
	}
	if g.cancel != nil {
		g.cancel()
		if err := <-g.done; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}
