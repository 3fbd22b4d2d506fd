package natsauth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/keyledger/keyledger"
)

// Subjects of the system account that account LEDGER imports (accounts.conf).
const (
	disconnectSubject   = "$SYS.ACCOUNT.CLIENTS.DISCONNECT"
	connzSubject        = "$SYS.REQ.ACCOUNT.CLIENTS.CONNZ"
	gatewayConnzSubject = "$SYS.REQ.ACCOUNT.GATEWAYS.CONNZ"
)

// connzPage is how many connections one server lists per answer: with
// their user names, well under a megabyte (NATS's default max_payload).
const connzPage = 256

// connzQuiet is how long the sweep waits for another server's answer once
// one has come; connzWait bounds the wait for the first.
const (
	connzQuiet = 250 * time.Millisecond
	connzWait  = 2 * time.Second
)

func (c *Callout) sweepEvery(stop <-chan struct{}) {
	tick := time.NewTicker(c.SweepEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.SweepEvery)
		if err := c.Sweep(ctx); err != nil {
			c.Logger.Warn("checking the open NATS connections failed; the next sweep tries again", "err", err)
		}
		cancel()
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// Sweep lists the open connections of account CLIENTS on every server and
// closes each one made with a key that no longer holds (Holds): revoked,
// deleted, expired, or regenerated since. It forgets the connections it
// tracks that a server no longer lists.
func (c *Callout) Sweep(ctx context.Context) error {
	if c.nc == nil || c.Holds == nil {
		return fmt.Errorf("callout not open")
	}
	started := time.Now()
	var stale []conn
	users := map[conn]string{} // the user names of stale
	open, answered, err := c.list(ctx, connzSubject, func(cn conn, user string) {
		if keyID, tag, ok := keyledger.ParseConnectionUser(user); ok && !c.Holds(keyID, tag) {
			stale = append(stale, cn)
			users[cn] = user
		}
	})
	if err != nil {
		return err
	}
	if len(stale) > 0 && c.CatchUp != nil {
		if err := c.CatchUp(ctx); err != nil {
			return fmt.Errorf("catching up with the stream before closing %d connections: %w", len(stale), err)
		}
		stale = slices.DeleteFunc(stale, func(cn conn) bool {
			keyID, tag, _ := keyledger.ParseConnectionUser(users[cn])
			return c.Holds(keyID, tag)
		})
	}
	for _, cn := range stale {
		if err := c.kick(cn); err == nil {
			c.Logger.Info("closed a NATS connection whose key no longer holds", "server", cn.server, "cid", cn.cid)
		}
	}
	c.forgetGone(ctx, open, answered, started)
	return nil
}

// list pages through the open connections that every server lists on
// subject (a $SYS.REQ.ACCOUNT.<account>.CONNZ), calling fn for each, and
// returns them with the servers that answered.
func (c *Callout) list(ctx context.Context, subject string, fn func(cn conn, user string)) (open map[conn]bool, answered map[string]bool, err error) {
	open, answered = map[conn]bool{}, map[string]bool{}
	for offset := 0; ; offset += connzPage {
		pages, err := c.ask(ctx, subject, fmt.Appendf(nil, `{"auth":true,"offset":%d,"limit":%d}`, offset, connzPage), len(answered))
		if err != nil {
			return nil, nil, err
		}
		more := false
		for _, p := range pages {
			answered[p.ServerID] = true
			for _, ci := range p.Conns {
				cn := conn{p.ServerID, ci.CID}
				open[cn] = true
				fn(cn, ci.User)
			}
			more = more || p.Offset+len(p.Conns) < p.Total && len(p.Conns) > 0
		}
		if !more {
			return open, answered, nil
		}
	}
}

// forgetGone forgets the tracked connections, authorized before the sweep
// began, that a server which answered did not list, once that server says
// of each one alone that it is not open. The listing is paged by position,
// and connections closing meanwhile shift others between pages: a
// connection left out of it is not thereby gone, and forgetting it would
// let it outlive its key. At most maxGoneChecks are asked per sweep.
func (c *Callout) forgetGone(ctx context.Context, open map[conn]bool, answered map[string]bool, before time.Time) {
	c.mu.Lock()
	var missing []conn
	for cn, h := range c.hostOf {
		if answered[cn.server] && !open[cn] && h.at.Before(before) && len(missing) < maxGoneChecks {
			missing = append(missing, cn)
		}
	}
	c.mu.Unlock()
	for _, cn := range missing {
		gone, err := c.gone(ctx, cn, len(answered))
		if err != nil {
			return
		}
		if gone {
			c.forget(cn)
		}
	}
}

// maxGoneChecks bounds the connections one sweep asks about one by one.
const maxGoneChecks = 256

// gone asks every server for connection cn.cid and reports whether cn's
// server answered that it has no such open connection.
func (c *Callout) gone(ctx context.Context, cn conn, servers int) (bool, error) {
	pages, err := c.ask(ctx, connzSubject, fmt.Appendf(nil, `{"cid":%d}`, cn.cid), servers)
	if err != nil {
		return false, err
	}
	for _, p := range pages {
		if p.ServerID == cn.server {
			return len(p.Conns) == 0, nil
		}
	}
	return false, nil // that server did not answer: keep it
}

// connzAnswer is one server's page of its CLIENTS connections.
type connzAnswer struct {
	ServerID string `json:"server_id"`
	Total    int    `json:"total"`
	Offset   int    `json:"offset"`
	Conns    []struct {
		CID  uint64 `json:"cid"`
		User string `json:"authorized_user"`
	} `json:"connections"`
}

// ask sends one connection-list request on subject to every server, and
// gathers the answers until servers have answered or, not knowing how many
// there are (servers is 0), until none has for connzQuiet.
func (c *Callout) ask(ctx context.Context, subject string, req []byte, servers int) ([]connzAnswer, error) {
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := c.nc.PublishRequest(subject, inbox, req); err != nil {
		return nil, err
	}
	var pages []connzAnswer
	wait := connzWait
	for servers == 0 || len(pages) < servers {
		wctx, cancel := context.WithTimeout(ctx, wait)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		if err != nil {
			if len(pages) > 0 && ctx.Err() == nil {
				break // no more servers
			}
			if len(pages) == 0 {
				return nil, fmt.Errorf("listing connections: no server answered on %s (do the servers run this version's accounts.conf? without it keyledger cannot list connections, nor learn when they close): %w", subject, err)
			}
			return nil, fmt.Errorf("listing connections: %w", err)
		}
		var answer struct {
			Data  *connzAnswer `json:"data"`
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &answer); err != nil || answer.Data == nil {
			if answer.Error != nil {
				return nil, fmt.Errorf("listing connections: %s", answer.Error.Description)
			}
			return nil, fmt.Errorf("listing connections: an answer that is no connection list")
		}
		pages = append(pages, *answer.Data)
		if servers == 0 {
			wait = connzQuiet
		}
	}
	return pages, nil
}
