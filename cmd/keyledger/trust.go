package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startEmbedded starts the embedded NATS server with the trust boundary of
// natsauth: keyledger's account for the streams and itself, the clients'
// account for everyone else, and keyledger as the auth callout. Its own
// keys are in the data directory (created at first start, mode 0600).
// policy is --nats-sync.
func (m *Main) startEmbedded(policy syncPolicy) error {
	host, portStr, err := net.SplitHostPort(m.NATSListen)
	if err != nil {
		return fmt.Errorf("--nats-listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--nats-listen: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	keys, err := natsauth.LoadOrCreateKeys(m.DataDir)
	if err != nil {
		return fmt.Errorf("nats keys: %w", err)
	}
	opts, err := natsauth.ServerOptions(keys)
	if err != nil {
		return err
	}
	if err := moveGlobalStreams(filepath.Join(m.DataDir, "nats")); err != nil {
		return err
	}
	opts.ServerName, opts.Host, opts.Port = "keyledger", host, port
	opts.JetStream, opts.StoreDir = true, filepath.Join(m.DataDir, "nats")
	// By default a key the caller was shown must survive a power cut: the
	// server writes each message before it acknowledges it, and keyledger
	// fsyncs for a group of them before it answers (openSyncer). The
	// server's own timer (every two minutes, unless an interval is given)
	// syncs the rest of its files.
	opts.SyncAlways, opts.SyncInterval = policy.each, policy.every
	opts.NoSigs, opts.NoLog = true, true
	if n := embeddedMaxConns(openFileLimit()); n > 0 {
		opts.MaxConn = n
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return errors.New("embedded nats: not ready after 30s")
	}
	m.ns = ns
	m.callout = natsauth.NewCallout(*keys)
	m.nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("keyledger"), nkeyOption(keys))
	return err
}

// embeddedMaxConns is the embedded server's max_connections for a process
// allowed limit open files (0: keep the server's default, 64K): it leaves
// a quarter of them, and at least 1,024, to HTTP, SQLite and JetStream's
// files, so that a flood of NATS connections cannot starve the HTTP API.
func embeddedMaxConns(limit uint64) int {
	if limit == 0 {
		return 0
	}
	spare := max(1024, limit/4)
	if limit < spare+256 {
		return 256
	}
	return int(min(limit-spare, 64*1024))
}

// httpMaxConns bounds the HTTP connections open at once for a process
// allowed limit open files: an eighth of them (between 256 and 64K), out of
// the quarter embeddedMaxConns leaves, so that neither API can starve the
// other or the stream's and SQLite's files (0: web's default).
func httpMaxConns(limit uint64) int {
	if limit == 0 {
		return 0
	}
	return int(min(max(limit/8, 256), 64*1024))
}

// moveGlobalStreams moves streams stored before the embedded server had
// accounts (in the global account, $G) to the ledger account, once: an
// upgraded data directory keeps its history.
func moveGlobalStreams(storeDir string) error {
	dir := filepath.Join(storeDir, server.JetStreamStoreDir)
	global, ledger := filepath.Join(dir, server.DEFAULT_GLOBAL_ACCOUNT), filepath.Join(dir, natsauth.LedgerAccount)
	if _, err := os.Stat(global); err != nil {
		return nil
	}
	if _, err := os.Stat(ledger); err == nil {
		return nil
	}
	if err := os.Rename(global, ledger); err != nil {
		return fmt.Errorf("moving the streams into account %s: %w", natsauth.LedgerAccount, err)
	}
	return nil
}

// connectExternal dials an external NATS server or cluster, as keyledger's
// own user when --nats-nkey is given, and answers its auth callout when
// --nats-callout-nkey is given.
func (m *Main) connectExternal() error {
	opts := []nats.Option{nats.Name("keyledger"), nats.MaxReconnects(-1)}
	keys := &natsauth.Keys{}
	if m.NATSNkeyFile != "" {
		kp, err := natsauth.ReadSeed(m.NATSNkeyFile)
		if err != nil {
			return fmt.Errorf("--nats-nkey: %w", err)
		}
		keys.Service = kp
		opts = append(opts, nkeyOption(keys))
	}
	if m.CalloutNkeyFile != "" {
		kp, err := natsauth.ReadSeed(m.CalloutNkeyFile)
		if err != nil {
			return fmt.Errorf("--nats-callout-nkey: %w", err)
		}
		keys.Issuer = kp
		m.callout = natsauth.NewCallout(*keys)
	}
	nc, err := nats.Connect(m.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", m.NATSURL, err)
	}
	m.nc = nc
	return nil
}

// nkeyOption signs the server's challenge with the service key.
func nkeyOption(keys *natsauth.Keys) nats.Option {
	pub, _ := keys.Service.PublicKey()
	return nats.Nkey(pub, keys.Service.Sign)
}

// openCallout starts answering the auth callout, once the service can
// authenticate keys.
func (m *Main) openCallout() error {
	if m.callout == nil {
		return nil
	}
	m.callout.DataDir, m.callout.Logger = m.DataDir, m.Logger
	m.callout.CheckKey = func(ctx context.Context, token string, from natsauth.Client) (*natsauth.Identity, error) {
		ctx = commands.WithClientAddr(commands.WithSource(ctx, from.Source()), from.Addr)
		a, err := m.service.AuthenticateConnection(ctx, token)
		if err != nil {
			return nil, err
		}
		// The index, not SQLite: a key issued on this instance a moment
		// ago may not be projected yet.
		exp, ok := m.index.ExpiresAt(a.KeyID)
		if !ok {
			return nil, keyledger.Errorf(keyledger.EUnauthenticated, "key %s is not in the verify index", a.KeyID)
		}
		return &natsauth.Identity{KeyID: a.KeyID, Owner: a.UserID, Roles: a.Roles, ExpiresAt: exp}, nil
	}
	m.callout.Holds = func(keyID, tag string) bool {
		return m.index.StatusOf(keyID, keyledger.ConnectionProof(tag)) == keyledger.StatusActive
	}
	m.callout.CatchUp = func(ctx context.Context) error {
		last, err := m.store.LastSeq(ctx)
		if err != nil {
			return err
		}
		for m.index.Seq() < last {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		return nil
	}
	return m.callout.Open(m.nc)
}

// endConnections closes the NATS connections of keys that a batch ended
// or regenerated (a connection made with the old secret), and of owners
// whose roles changed, so none outlives its key.
func (m *Main) endConnections(batch []events.Recorded) {
	if m.callout == nil {
		return
	}
	for _, r := range batch {
		switch r.Event.Action() {
		case "revoked", "deleted", "expired", "regenerated":
			m.callout.KeyEnded(r.Event.KeyRef())
		case "roles_changed", "deactivated":
			m.callout.OwnerChanged(r.Event.OwnerID())
		}
	}
}
