package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/web"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// Main is the server: `keyledger serve`. ParseFlags fills the fields, Run
// starts everything and returns, Close stops it.
type Main struct {
	DataDir    string
	NATSListen string // embedded server's client address
	NATSURL    string // external NATS; embeds nothing when set
	Replicas   int
	HTTPAddr   string
	Stdout     io.Writer
	Logger     *slog.Logger
	// BeforeCommit is passed to the projector (crash tests).
	BeforeCommit func(lastSeq uint64)

	ns        *server.Server
	nc        *nats.Conn
	db        *projections.DB
	projector *projections.Projector
	svc       micro.Service
	http      *web.Server
	cancel    context.CancelFunc
	done      chan error
}

// NewMain returns a Main with the defaults of DESIGN.md.
func NewMain() *Main {
	return &Main{
		DataDir: "keyledger-data", NATSListen: "127.0.0.1:4222", Replicas: 1, HTTPAddr: "127.0.0.1:8080",
		Stdout: os.Stdout, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
}

// ParseFlags reads `serve` flags.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stdout)
	fs.StringVar(&m.DataDir, "data", m.DataDir, "data directory: embedded JetStream, ledger.db, admin.token")
	fs.StringVar(&m.NATSListen, "nats-listen", m.NATSListen, "address the embedded NATS server listens on")
	fs.StringVar(&m.NATSURL, "nats", m.NATSURL, "URL of an external NATS server or cluster (embeds nothing)")
	fs.IntVar(&m.Replicas, "replicas", m.Replicas, "replicas of the event stream (3 on a cluster)")
	fs.StringVar(&m.HTTPAddr, "http", m.HTTPAddr, "HTTP listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Run starts the server and returns once it accepts requests; Done reports
// if it stops on its own.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return err
	}
	if err := m.connect(); err != nil {
		return err
	}
	js, err := jetstream.New(m.nc)
	if err != nil {
		return err
	}
	store := events.NewStore(js)
	store.Replicas = m.Replicas
	if err := retry(ctx, 30*time.Second, func() error { return store.Open(ctx) }); err != nil {
		return err
	}
	m.db = projections.NewDB(filepath.Join(m.DataDir, "ledger.db"))
	if err := m.db.Open(); err != nil {
		return err
	}
	if m.db.Rebuilt {
		m.Logger.Info("building projections from the event stream", "db", m.db.Path)
	}
	m.projector = projections.NewProjector(m.db, store)
	m.projector.Logger, m.projector.BeforeCommit = m.Logger, m.BeforeCommit
	pctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- m.projector.Run(pctx) }()

	service := commands.NewService(store, m.db, m.projector)
	service.Logger = m.Logger
	if err := m.bootstrap(ctx, service); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if m.svc, err = commands.ServeNATS(m.nc, service, version, 256); err != nil {
		return err
	}
	m.http = web.NewServer(m.HTTPAddr, service, m.ready)
	m.http.Logger = m.Logger
	if err := m.http.Open(); err != nil {
		return err
	}
	m.Logger.Info("keyledger serving", "nats", m.ClientURL(), "http", m.http.URL(), "data", m.DataDir)
	return nil
}

// connect starts the embedded NATS server, or dials the external one.
func (m *Main) connect() error {
	if m.NATSURL != "" {
		nc, err := nats.Connect(m.NATSURL, nats.Name("keyledger"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("connect %s: %w", m.NATSURL, err)
		}
		m.nc = nc
		return nil
	}
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
	ns, err := server.NewServer(&server.Options{
		ServerName: "keyledger", Host: host, Port: port,
		JetStream: true, StoreDir: filepath.Join(m.DataDir, "nats"),
		SyncAlways: true, // a key the caller was shown must survive a power cut
		NoSigs:     true, NoLog: true,
	})
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return errors.New("embedded nats: not ready after 30s")
	}
	m.ns = ns
	m.nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("keyledger"))
	return err
}

// bootstrap creates the first admin on an empty stream and writes their
// token to DATA/admin.token (mode 0600); it prints the path, never the token.
func (m *Main) bootstrap(ctx context.Context, svc *commands.Service) error {
	path := filepath.Join(m.DataDir, "admin.token")
	staged := path + ".new"
	created, err := svc.Bootstrap(ctx, func(token string) error {
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
	select {
	case <-m.projector.Ready():
	default:
		return fmt.Errorf("projections are catching up (at %d)", m.projector.Applied())
	}
	if !m.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	return nil
}

// Done reports the projector's end: nil after Close, an error if it failed.
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

// Close stops serving, in the reverse order of Run.
func (m *Main) Close() error {
	if m.http != nil {
		m.http.Close()
	}
	if m.svc != nil {
		m.svc.Stop()
	}
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.done <- nil
	}
	if m.nc != nil {
		m.nc.Drain()
	}
	var err error
	if m.db != nil {
		err = m.db.Close()
	}
	if m.ns != nil {
		m.ns.Shutdown()
		m.ns.WaitForShutdown()
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
