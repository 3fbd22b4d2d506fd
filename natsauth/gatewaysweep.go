package natsauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

// watchGateways looks at the gateway credentials every WatchGatewaysEvery
// and sweeps the gateways' connections when they changed, at once (a
// credential withdrawn while this instance was down), and every SweepEvery.
func (c *Callout) watchGateways(stop <-chan struct{}) {
	tick := time.NewTicker(c.WatchGatewaysEvery)
	defer tick.Stop()
	last, swept, warned, again := "", time.Time{}, time.Time{}, time.Time{}
	for {
		now := gatewayDirState(c.DataDir)
		if now != last {
			// Once more a moment later, for a connection the callout
			// let in just before the change, that was not yet listed.
			again = time.Now().Add(recheck)
		}
		recheckDue := !again.IsZero() && !time.Now().Before(again)
		if recheckDue {
			again = time.Time{}
		}
		if now != last || recheckDue || c.SweepEvery > 0 && time.Since(swept) >= c.SweepEvery {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.SweepGateways(ctx); err == nil {
				last = now
			} else if time.Since(warned) >= time.Minute { // it tries again every look
				c.Logger.Warn("checking the open gateway connections failed; trying again", "err", err)
				warned = time.Now()
			}
			cancel()
			swept = time.Now()
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// gatewayDirState names the state of dir's gateway credentials: each
// file's name, size and time. It changes when one is made, withdrawn or
// deleted.
func gatewayDirState(dir string) string {
	entries, err := os.ReadDir(filepath.Join(dir, gatewayDir))
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return b.String()
}

// SweepGateways lists the open connections of account GATEWAYS on every
// server and closes each one whose credential this instance has withdrawn
// (WithdrawGatewayCredential), replaced by another under the same name,
// or, having known it, no longer has. A gateway this instance never knew
// is left alone: another instance let it in.
func (c *Callout) SweepGateways(ctx context.Context) error {
	if c.nc == nil {
		return fmt.Errorf("callout not open")
	}
	c.scanGateways()
	var stale []conn
	if _, _, err := c.list(ctx, gatewayConnzSubject, func(cn conn, user string) {
		if name, tag, ok := keyledger.ParseGatewayUser(user); ok && !c.gatewayHolds(name, tag) {
			stale = append(stale, cn)
		}
	}); err != nil {
		return err
	}
	for _, cn := range stale {
		if err := c.kick(cn); err == nil {
			c.Logger.Info("closed a gateway connection whose credential was withdrawn", "server", cn.server, "cid", cn.cid)
		}
	}
	return nil
}

// gatewayHolds reports whether a connection of gateway name, made with the
// secret tag names ("" for a connection from before tags), may stay open.
func (c *Callout) gatewayHolds(name, tag string) bool {
	sum, withdrawn, err := readGateway(c.DataDir, name)
	switch {
	case withdrawn:
		return false
	case errors.Is(err, os.ErrNotExist):
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.gwSeen[name]
	case errors.Is(err, errNotGatewayRecord):
		return false // it lets nobody in either
	case err != nil:
		return true // unreadable for now: ask again next time
	}
	return tag == "" || keyledger.ConnectionTagHolds(tag, sum)
}

// scanGateways remembers every gateway whose credential DataDir holds, so
// that deleting its file later withdraws it too.
func (c *Callout) scanGateways() {
	entries, _ := os.ReadDir(filepath.Join(c.DataDir, gatewayDir))
	names := slices.DeleteFunc(entries, func(e os.DirEntry) bool { return !keyledger.IsGatewayName(e.Name()) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range names {
		c.gwSeen[e.Name()] = true
	}
}

// sawGateway remembers that gateway name's credential let a connection in.
func (c *Callout) sawGateway(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gwSeen[name] = true
}
