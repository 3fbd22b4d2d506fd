package natsauth

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go"
)

// An end is applied after grace, so that a reply already on its way to the
// connection (the revoke a key made of itself) reaches it, and again after
// recheck, for a connection that was being authorized while the end was
// recorded.
const (
	grace   = 100 * time.Millisecond
	recheck = 600 * time.Millisecond
)

// conn names a client connection: its server and its ID there.
type conn struct {
	server string
	cid    uint64
}

// keyConns are the open connections that authenticated with one key, with
// the tag of the secret each presented.
type keyConns struct {
	owner string
	conns map[conn]string
}

// track remembers that a connection authenticated with keyID, unless the
// key already has MaxConnsPerKey open: then it reports false, and the
// connection is refused. Forgetting one instead would leave it open past
// its key's end.
func (c *Callout) track(cn conn, keyID, tag, owner string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.conns[keyID]
	if k == nil {
		k = &keyConns{owner: owner, conns: map[conn]string{}}
		c.conns[keyID] = k
	}
	if len(k.conns) >= MaxConnsPerKey {
		return false
	}
	k.conns[cn] = tag
	c.keyOf[cn] = keyID
	return true
}

// admit counts a connection from host, unless host already has
// MaxConnsPerAddress open: then it reports false, and the connection is
// refused. Loopback addresses are not limited (the CLI, local gateways).
func (c *Callout) admit(cn conn, host string, now time.Time) bool {
	limited := !isLoopback(host)
	if a, err := netip.ParseAddr(host); err == nil {
		host = keyledger.ClientBucket(a) // an IPv6 /64 counts as one address
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if limited && c.hosts[host] >= MaxConnsPerAddress {
		return false
	}
	if limited {
		c.hosts[host]++
	}
	c.hostOf[cn] = hostConn{host, limited, now}
	return true
}

// hostConn is where an admitted connection came from, and when.
type hostConn struct {
	host    string
	limited bool
	at      time.Time
}

// forget drops a connection that has closed.
func (c *Callout) forget(cn conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(cn)
}

func (c *Callout) forgetLocked(cn conn) {
	if h, ok := c.hostOf[cn]; ok {
		delete(c.hostOf, cn)
		if h.limited {
			if c.hosts[h.host]--; c.hosts[h.host] <= 0 {
				delete(c.hosts, h.host)
			}
		}
	}
	keyID, ok := c.keyOf[cn]
	if !ok {
		return
	}
	delete(c.keyOf, cn)
	if k := c.conns[keyID]; k != nil {
		delete(k.conns, cn)
		if len(k.conns) == 0 {
			delete(c.conns, keyID)
		}
	}
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// closed forgets the connection a server's disconnect event names
// ($SYS.ACCOUNT.CLIENTS.DISCONNECT).
func (c *Callout) closed(m *nats.Msg) {
	var ev struct {
		Server struct {
			ID string `json:"id"`
		} `json:"server"`
		Client struct {
			ID uint64 `json:"id"`
		} `json:"client"`
	}
	if json.Unmarshal(m.Data, &ev) == nil && ev.Server.ID != "" {
		c.forget(conn{ev.Server.ID, ev.Client.ID})
	}
}

// tracked returns how many open connections are remembered for keyID.
func (c *Callout) tracked(keyID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.conns[keyID]; k != nil {
		return len(k.conns)
	}
	return 0
}

// KeyEnded closes the connections that authenticated with keyID and no
// longer hold (Holds; all of them without it): the key was revoked,
// deleted or has expired, or it was regenerated, which ends the
// connections made with the old secret and not those made with the new.
func (c *Callout) KeyEnded(keyID string) {
	c.disconnect(func(id string, _ *keyConns) bool { return id == keyID }, c.Holds)
}

// OwnerChanged closes every connection of owner's keys: their roles
// changed, or they were deactivated. Their keys, if still valid, connect
// again with the new permissions.
func (c *Callout) OwnerChanged(owner string) {
	c.disconnect(func(_ string, k *keyConns) bool { return k.owner == owner }, nil)
}

// disconnect closes the connections of the matching keys, but those keep
// says may stay (keep nil: none), after grace and once more after
// recheck, off the caller's goroutine (the projector's).
func (c *Callout) disconnect(match func(string, *keyConns) bool, keep func(keyID, tag string) bool) {
	time.AfterFunc(grace, func() { c.disconnectNow(match, keep) })
	time.AfterFunc(recheck, func() { c.disconnectNow(match, keep) })
}

func (c *Callout) disconnectNow(match func(string, *keyConns) bool, keep func(keyID, tag string) bool) {
	var conns []conn
	c.mu.Lock()
	for id, k := range c.conns {
		if !match(id, k) {
			continue
		}
		for cn, tag := range k.conns {
			if keep != nil && keep(id, tag) {
				continue
			}
			conns = append(conns, cn)
			delete(c.keyOf, cn)
			delete(k.conns, cn)
		}
		if len(k.conns) == 0 {
			delete(c.conns, id)
		}
	}
	c.mu.Unlock()
	for _, cn := range conns {
		if err := c.kick(cn); err == nil {
			c.Logger.Info("closed a NATS connection whose key no longer holds", "server", cn.server, "cid", cn.cid)
		}
	}
}

// kick asks the connection's server to close it, through the one system
// request the ledger account imports ($SYS.REQ.SERVER.<id>.KICK).
func (c *Callout) kick(cn conn) error {
	nc := c.nc
	if nc == nil {
		return fmt.Errorf("callout not open")
	}
	res, err := nc.Request(fmt.Sprintf("$SYS.REQ.SERVER.%s.KICK", cn.server), fmt.Appendf(nil, `{"cid":%d}`, cn.cid), 2*time.Second)
	if err != nil {
		return err
	}
	var answer struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if json.Unmarshal(res.Data, &answer) == nil && answer.Error != nil {
		return fmt.Errorf("kick: %s", answer.Error.Description) // usually: already gone
	}
	return nil
}
