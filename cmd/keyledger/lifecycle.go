package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyledger/keyledger/groupcommit"
	"github.com/keyledger/keyledger/projections"
)

// connect starts the embedded NATS server, or dials the external one.
func (m *Main) connect() error {
	policy, err := parseSync(m.NATSSync)
	if err != nil {
		return err
	}
	if m.NATSURL != "" {
		if !policy.group {
			return errors.New("--nats-sync applies to the embedded server only; an external one syncs as it is configured")
		}
		return m.connectExternal()
	}
	m.syncPolicy = policy
	return m.startEmbedded(policy)
}

// syncPolicy is --nats-sync: how the embedded server's writes reach the disk.
type syncPolicy struct {
	// group ("always", the default): every write is on disk before
	// keyledger answers for it or projects it, and one fsync serves all
	// the writes made meanwhile (groupcommit).
	group bool
	// each: nats-server fsyncs every message itself, one after another
	// (JetStream's sync_always); the same promise, a fraction of the rate.
	each bool
	// every (an interval): nats-server syncs that often, and a power cut
	// may lose what was answered in between.
	every time.Duration
}

// parseSync reads --nats-sync: "always" (or empty), "each", or an interval.
func parseSync(v string) (syncPolicy, error) {
	switch v {
	case "", "always":
		return syncPolicy{group: true}, nil
	case "each":
		return syncPolicy{each: true}, nil
	}
	every, err := time.ParseDuration(v)
	if err != nil || every <= 0 {
		return syncPolicy{}, fmt.Errorf("--nats-sync %q: want always, each, or a positive interval such as 1m", v)
	}
	return syncPolicy{every: every}, nil
}

// bootstrap creates the first admin on an empty stream and writes their
// token to DATA/admin.token (mode 0600); it prints the path, never the token.
func (m *Main) bootstrap(ctx context.Context) error {
	path := filepath.Join(m.DataDir, "admin.token")
	staged := path + ".new"
	created, err := m.service.Bootstrap(ctx, func(token string) error {
		return os.WriteFile(staged, []byte(token+"\n"), 0o600)
	})
	if !created {
		os.Remove(staged)
		return err
	}
	if err != nil {
		return err
	}
	if err := os.Rename(staged, path); err != nil {
		return err
	}
	m.Logger.Info("registered the first admin; their token is in the file", "path", path)
	fmt.Fprintf(m.Stdout, "admin token written to %s\n", path)
	return nil
}

func (m *Main) ready() error {
	for _, p := range []*projections.Projector{m.projector, m.usage} {
		if err := p.Health(); err != nil {
			return err
		}
		select {
		case <-p.Ready():
		default:
			return fmt.Errorf("projections are catching up (at %d)", p.Applied())
		}
	}
	if !m.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	return streamFaults(m.store, m.usageStore)
}

// Done reports a failure that stops the server on its own.
func (m *Main) Done() <-chan error { return m.done }

// ClientURL is the NATS URL clients use.
func (m *Main) ClientURL() string {
	if m.ns != nil {
		return m.ns.ClientURL()
	}
	return m.NATSURL
}

// HTTPURL is the base URL of the HTTP server.
func (m *Main) HTTPURL() string { return m.http.URL() }

// Close stops serving, in the reverse order of Run: no new requests, then
// background work (the last usage is flushed), then storage and NATS.
func (m *Main) Close() error {
	if m.pprof != nil {
		m.pprof.Close()
		m.pprof = nil
	}
	if m.http != nil {
		m.http.Close()
		m.http = nil
	}
	if m.callout != nil {
		m.callout.Close()
	}
	if m.svc != nil {
		m.svc.Stop()
		m.svc = nil
	}
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
		m.cancel = nil
	}
	if m.nc != nil {
		m.nc.Drain()
		m.nc = nil
	}
	for _, s := range []*groupcommit.Syncer{m.syncer, m.usageSyncer} {
		if s != nil {
			s.Close()
		}
	}
	m.syncer, m.usageSyncer = nil, nil
	if m.history != nil {
		m.history.Close()
		m.history = nil
	}
	var err error
	if m.db != nil {
		err = m.db.Close()
		m.db = nil
	}
	if m.ns != nil {
		m.ns.Shutdown()
		m.ns.WaitForShutdown()
		m.ns = nil
	}
	if m.lock != nil {
		os.Remove(filepath.Join(m.DataDir, natsURLFile))
		m.lock.Close()
		m.lock = nil
	}
	return err
}

// retry calls f until it succeeds or limit passes: a cluster that is still
// electing leaders answers errors for a while.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// checkListen reports whether addr, given with flag, can be listened on
// now; a port of 0 (any free one) always can.
func checkListen(flag, addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	} else if port == "0" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s %s: the address is in use (another keyledger or NATS server?); stop it or choose another with %s", flag, addr, flag)
		}
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	return ln.Close()
}
