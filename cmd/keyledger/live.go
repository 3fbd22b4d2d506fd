package main

import (
	"strconv"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/web"
	"github.com/nats-io/nats.go"
)

// notifyAll is every notification the event stream republishes:
// keyledger.notify.<action>.<keyID>, the stored event as the body.
const notifyAll = "keyledger.notify.>"

// liveFeed feeds the console's live events from this server's own NATS
// connection; each open stream holds one core subscription.
func liveFeed(nc *nats.Conn) web.LiveFeed {
	return func(deliver func(events.Recorded)) (func(), error) {
		sub, err := nc.Subscribe(notifyAll, func(m *nats.Msg) {
			seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
			if ev, err := events.Decode(m.Data); err == nil {
				deliver(events.Recorded{Seq: seq, Event: ev})
			}
		})
		if err != nil {
			return nil, err
		}
		return func() { _ = sub.Unsubscribe() }, nil
	}
}
