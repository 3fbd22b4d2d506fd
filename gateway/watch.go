package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// watch follows the connection's state, without taking the handlers the
// gateway's author may have set. While the connection is down, and after
// it is back until the index has caught up with the stream, the gateway
// is stale: it hears of no revocation. Past maxStale (if set) every
// verification answers CodeUnavailable until the index is current again.
// A connection closed for good stops the gateway at once, with the
// connection's last error as the reason.
func (g *Gateway) watch(ctx context.Context, nc *nats.Conn, maxStale time.Duration) {
	ch := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(ch)
	var tick <-chan time.Time
	if maxStale > 0 {
		t := time.NewTicker(min(maxStale/4, time.Second))
		defer t.Stop()
		tick = t.C
	}
	if nc.IsClosed() {
		g.closedForGood(nc)
		return
	}
	suspended := false
	for {
		select {
		case <-ctx.Done():
			return
		case st := <-ch:
			switch st {
			case nats.DISCONNECTED, nats.RECONNECTING:
				g.staleSince.CompareAndSwap(0, time.Now().UnixNano())
			case nats.CONNECTED:
				if g.catchUp(ctx) {
					suspended = false
				}
			case nats.CLOSED:
				g.closedForGood(nc)
				return
			}
		case <-tick:
			if s := g.Stale(); s > maxStale && !suspended {
				g.log.Warn("gateway cut off from the stream for longer than MaxStale: refusing every key until it is back", "stale", s.Round(time.Millisecond), "max_stale", maxStale)
				g.index.Suspend()
				suspended = true
			}
		}
	}
}

// catchUp ends staleness once the index holds everything the stream held
// when the connection came back; until then a revocation stored while the
// gateway was away may not be applied yet. It reports whether the
// gateway is current.
func (g *Gateway) catchUp(ctx context.Context) bool {
	if g.staleSince.Load() == 0 {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	target, err := g.store.LastSeq(cctx)
	for err == nil && g.index.Seq() < target {
		select {
		case <-cctx.Done():
			err = cctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		g.log.Warn("gateway reconnected but could not catch up with the stream yet", "err", err)
		return false // stays stale until the next reconnection catches up
	}
	g.staleSince.Store(0)
	g.index.Resume()
	g.log.Info("gateway caught up with the stream again", "seq", g.index.Seq())
	return true
}

// closedForGood stops the gateway at once when its connection is closed
// for good (the servers refused it, as when its credential is withdrawn,
// or the author closed it): every verification answers CodeUnavailable
// from now on, and Err names the connection's last error (closedErr).
func (g *Gateway) closedForGood(nc *nats.Conn) {
	g.index.Halt()
	g.cancel()
}

// closedErr is why a connection closed for good: nats.ErrConnectionClosed,
// with its last error ("authorization violation") when it had one.
func closedErr(nc *nats.Conn) error {
	if last := nc.LastError(); last != nil {
		return fmt.Errorf("%w (%w)", nats.ErrConnectionClosed, last)
	}
	return nats.ErrConnectionClosed
}

// Stale is how long the gateway has not been sure to hear of every
// revocation: 0 while connected and caught up with the stream; since the
// connection dropped otherwise. Gateway.Config.MaxStale bounds how long it
// answers anyway.
func (g *Gateway) Stale() time.Duration {
	since := g.staleSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
