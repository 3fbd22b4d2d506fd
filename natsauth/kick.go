package natsauth

import "time"

// recheck is when an end is applied a second time, for a connection that
// was being authorized while the end was recorded.
const recheck = 500 * time.Millisecond

// track remembers that connection cid authenticated with keyID.
func (c *Callout) track(cid uint64, keyID, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.conns[keyID]
	if k == nil {
		k = &keyConns{owner: owner}
		c.conns[keyID] = k
	}
	if len(k.cids) >= maxConnsPerKey {
		k.cids = append(k.cids[:0], k.cids[len(k.cids)/2:]...)
	}
	k.cids = append(k.cids, cid)
}

// KeyEnded closes every connection that authenticated with keyID: it was
// revoked, deleted or has expired.
func (c *Callout) KeyEnded(keyID string) {
	c.disconnect(func(id string, _ *keyConns) bool { return id == keyID })
}

// OwnerChanged closes every connection of owner's keys: their roles
// changed, or they were deactivated. Their keys, if still valid, connect
// again with the new permissions.
func (c *Callout) OwnerChanged(owner string) {
	c.disconnect(func(_ string, k *keyConns) bool { return k.owner == owner })
}

func (c *Callout) disconnect(match func(string, *keyConns) bool) {
	if c.Disconnect == nil {
		return
	}
	c.disconnectNow(match)
	time.AfterFunc(recheck, func() { c.disconnectNow(match) })
}

func (c *Callout) disconnectNow(match func(string, *keyConns) bool) {
	var cids []uint64
	c.mu.Lock()
	for id, k := range c.conns {
		if match(id, k) {
			cids = append(cids, k.cids...)
			delete(c.conns, id)
		}
	}
	c.mu.Unlock()
	for _, cid := range cids {
		if c.Disconnect(cid) == nil {
			c.Logger.Info("closed a NATS connection whose key no longer holds", "cid", cid)
		}
	}
}
