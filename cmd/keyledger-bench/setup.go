package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyledger/keyledger/client"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// target is a running keyledger under measurement: the serve process, the
// NATS it uses, and the admin's token from its data directory.
type target struct {
	name     string
	url      string // NATS, for clients and for the service's credentials
	dataDir  string
	replicas int
	proc     *process
	admin    string           // the admin's API key
	apis     []*client.Client // one connection per load client, as many clients would have
	svc      *nats.Conn       // the service's credentials
	// bareURL and bareDir are where the bare ceiling runs (see
	// startBareServer): keyledger's own NATS servers, or for the default
	// embedded setup a server of the bench's that syncs every message.
	bareURL, bareDir string
	closers          []func()
}

// logHint is the server's last warning or error line, for a report whose
// requests failed with an internal error (whose detail the server keeps to
// its log). Server logs hold no secrets.
func (t *target) logHint() string {
	if t.proc == nil {
		return ""
	}
	lines := strings.Split(t.proc.logs.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "level=ERROR") || strings.Contains(lines[i], "level=WARN") {
			return lines[i][:min(len(lines[i]), 400)]
		}
	}
	return ""
}

// close stops the target and everything started for it, newest first.
func (t *target) close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
}

// startTarget starts `keyledger serve` for one setup in a new temporary
// directory: embedded with sync on every write, embedded with interval
// sync, or against a 3-node cluster running in this process.
func (b *Bench) startTarget(ctx context.Context, setup string) (t *target, err error) {
	dir, err := os.MkdirTemp("", "keyledger-bench-"+setup+"-")
	if err != nil {
		return nil, err
	}
	t = &target{name: setup, dataDir: filepath.Join(dir, "data"), replicas: 1}
	t.closers = append(t.closers, func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	args := []string{"serve", "--data", t.dataDir}
	switch setup {
	case "embedded", "each", "interval":
		addr, err := freeLoopback()
		if err != nil {
			return nil, err
		}
		t.url = "nats://" + addr
		args = append(args, "--nats-listen", addr)
		switch setup {
		case "each":
			args = append(args, "--nats-sync", "each")
		case "interval":
			args = append(args, "--nats-sync", b.Interval)
		case "embedded":
			if t.bareURL, err = startBareServer(t, filepath.Join(dir, "bare")); err != nil {
				return nil, err
			}
			t.bareDir = filepath.Join(dir, "bare")
		}
	case "r3":
		c, err := startCluster(filepath.Join(dir, "cluster"), 3)
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, c.shutdown)
		t.url, t.replicas = c.url(), 3
		args = append(args, "--nats", t.url, "--replicas", "3")
	default:
		return nil, fmt.Errorf("unknown setup %q", setup)
	}
	if err := b.openTarget(ctx, t, args); err != nil {
		return nil, err
	}
	if t.bareURL == "" {
		t.bareURL, t.bareDir = t.url, t.dataDir
	}
	return t, nil
}

// startBareServer starts, in the bench's process, the server of the
// embedded setup's bare ceiling: nats-server with sync_always, storing
// under dir, on the same disk as keyledger's data directory. keyledger's
// own embedded server cannot host that ceiling: by default it leaves the
// fsync to keyledger's group commit, so a bare publish there would not be
// synced at all.
func startBareServer(t *target, dir string) (string, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "bench-bare", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, SyncAlways: true, NoLog: true, NoSigs: true,
	})
	if err != nil {
		return "", err
	}
	go ns.Start()
	t.closers = append(t.closers, func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		return "", errors.New("the bare ceiling's server is not ready")
	}
	return ns.ClientURL(), nil
}

// openTarget starts serve with args, waits for it to be ready, and
// connects as the admin and as the service.
func (b *Bench) openTarget(ctx context.Context, t *target, args []string) error {
	args = append(args, b.ServeArgs...)
	p, err := start(b.bin, nil, append(args, "--http")...)
	if err != nil {
		return err
	}
	t.proc = p
	t.closers = append(t.closers, p.stop)
	if err := p.waitReady(ctx, "/readyz", 2*time.Minute); err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(t.dataDir, "admin.token"))
	if err != nil {
		return fmt.Errorf("the admin's token: %w", err)
	}
	t.admin = strings.TrimSpace(string(tok))
	for range max(1, b.Clients) {
		nc, err := connectClient(t.url, t.admin)
		if err != nil {
			return err
		}
		t.closers = append(t.closers, nc.Close)
		c := client.New(nc)
		c.Timeout = 30 * time.Second
		t.apis = append(t.apis, c)
	}
	if t.svc, err = connectService(t.url, t.dataDir); err != nil {
		return err
	}
	t.closers = append(t.closers, t.svc.Close)
	return t.waitService(ctx, 30*time.Second)
}

// waitService waits until the service answers a query over NATS: /readyz
// can answer a moment before the service's subscriptions have reached the
// NATS server.
func (t *target) waitService(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := t.call(ctx, "query.settings", struct{}{}, nil)
		if !errors.Is(err, client.ErrNoServer) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ready over HTTP, but no answer over NATS at %s after %s", t.url, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// call sends one request as the admin, on the first connection.
func (t *target) call(ctx context.Context, endpoint string, req, resp any) error {
	return t.callAs(ctx, 0, endpoint, req, resp)
}

// callAs sends one request as the admin on load client i's connection.
func (t *target) callAs(ctx context.Context, i int, endpoint string, req, resp any) error {
	return t.apis[i%len(t.apis)].Call(ctx, endpoint, t.admin, "", req, resp)
}

// prepare enables keys and allows 1,000 active keys per owner, the most
// the policy allows, so that loads on one owner run longer before they
// move on to the next.
func (t *target) prepare(ctx context.Context) error {
	return t.call(ctx, "cmd.settings.set", map[string]any{"enabled": true, "max_active_keys_per_user": 1000}, nil)
}

// register registers a service account and returns its user ID.
func (t *target) register(ctx context.Context, name string) (string, error) {
	var u struct {
		UserID string `json:"user_id"`
	}
	err := t.call(ctx, "cmd.user.register", map[string]any{"name": name, "kind": "service", "roles": []string{"developer"}}, &u)
	return u.UserID, err
}

// runSetup measures one setup: the bare ceiling, the write path, and the
// bare ceiling again. The ceiling the ratios use is the better of the two,
// so that a machine busier during one of them does not flatter keyledger.
func (b *Bench) runSetup(ctx context.Context, setup string) error {
	b.rep.note("\n== %s: %s", setup, map[string]string{
		"embedded": "embedded NATS, sync on every write (the default: keyledger's group commit; the bare ceiling on a sync_always server beside it)",
		"each":     "embedded NATS, --nats-sync each (nats-server fsyncs every message; the bare ceiling on the same server)",
		"interval": "embedded NATS, --nats-sync " + b.Interval,
		"r3":       "3-node cluster on loopback (in the bench's process), serve --nats --replicas 3",
	}[setup])
	t, err := b.startTarget(ctx, setup)
	if err != nil {
		return err
	}
	defer t.close()
	if err := t.prepare(ctx); err != nil {
		return err
	}
	before, err := b.bareCeiling(ctx, t)
	if err != nil {
		return fmt.Errorf("bare ceiling: %w", err)
	}
	relay, err := b.relayCeiling(ctx, t)
	if err != nil {
		return fmt.Errorf("relay ceiling: %w", err)
	}
	issued, many, err := b.issueManyOwners(ctx, t)
	if err != nil {
		return err
	}
	one, err := b.issueOneOwner(ctx, t)
	if err != nil {
		return err
	}
	rev := b.revokeLoad(ctx, t, issued)
	after, err := b.bareCeiling(ctx, t)
	if err != nil {
		return fmt.Errorf("bare ceiling: %w", err)
	}

	ceiling := max(before.rps(), after.rps())
	ratio := func(r result) float64 { return r.rps() / ceiling }
	bare := fmt.Sprintf("bare JetStream append, %d clients on %d subjects", b.Clients, b.Clients)
	b.rep.add(setup, bare+", before", before.String(), ratio(before), "", nil)
	b.rep.add(setup, bare+", after", after.String(), ratio(after), "", nil)
	b.rep.add(setup, fmt.Sprintf("relay: request → the same append → reply, %d clients", b.Clients), relay.String(), ratio(relay), "", nil)
	want := map[string]float64{"embedded": 0.8, "interval": 0.5, "r3": 0.8}[setup]
	if want > 0 {
		b.rep.add(setup, fmt.Sprintf("key issue, %d clients on %d owners", b.Clients, b.Clients), many.String(),
			ratio(many), fmt.Sprintf("÷ bare ≥ %.1f", want), atLeast(ratio(many), want))
	} else { // each: the former default, for comparison; the target is the default's
		b.rep.add(setup, fmt.Sprintf("key issue, %d clients on %d owners", b.Clients, b.Clients), many.String(), ratio(many), "", nil)
	}
	if setup == "r3" {
		p99 := float64(many.pct(99)) / float64(time.Millisecond)
		if many.ok == 0 {
			p99 = math.NaN()
		}
		b.rep.add(setup, "key issue p99 on R3", ms(many.pct(99)), math.NaN(), "≤ 20 ms", atMost(p99, 20))
	}
	if want > 0 {
		b.rep.add(setup, fmt.Sprintf("key issue, %d clients on one owner", b.Clients), one.String(),
			ratio(one), "÷ bare ≥ 0.3", atLeast(ratio(one), 0.3))
	} else {
		b.rep.add(setup, fmt.Sprintf("key issue, %d clients on one owner", b.Clients), one.String(), ratio(one), "", nil)
	}
	b.rep.add(setup, fmt.Sprintf("key revoke, %d clients on %d owners", b.Clients, b.Clients), rev.String(), ratio(rev), "", nil)
	if relay.rps() > 0 {
		b.rep.add(setup, fmt.Sprintf("key issue, %d clients on %d owners, ÷ relay", b.Clients, b.Clients),
			fmt.Sprintf("%.2f", many.rps()/relay.rps()), nan, "", nil)
	}
	if err := b.bigOwner(ctx, t); err != nil {
		return err
	}
	if err := b.bareWideFilter(ctx, t); err != nil {
		return fmt.Errorf("bare wide filter: %w", err)
	}
	if hint := t.logHint(); hint != "" {
		b.rep.note("%s: the server's last warning: %s", setup, hint)
	}
	return nil
}
