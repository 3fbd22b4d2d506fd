// Package ledgertest runs a real keyledger instance for tests: the command
// service and its projections over an in-process nats-server (see natstest)
// and a SQLite file in the test's temporary directory. Nothing is mocked.
// Several instances may share one stream, as they do on a cluster.
package ledgertest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/nats-io/nats.go/jetstream"
)

// Ledger is one running instance.
type Ledger struct {
	Service   *commands.Service
	Store     *events.Store
	DB        *projections.DB
	Projector *projections.Projector
	// Admin and Token act as the bootstrap admin.
	Admin commands.Actor
	Token string
	// Pause stops this instance's projector: its in-memory state then lags
	// whatever other instances append.
	Pause func()
}

// New starts a one-node NATS server and one instance on it, bootstraps the
// admin and enables keys.
func New(tb testing.TB) *Ledger {
	tb.Helper()
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	l := Start(tb, js)
	ctx := context.Background()
	if created, err := l.Service.Bootstrap(ctx, func(tok string) error { l.Token = tok; return nil }); err != nil || !created {
		tb.Fatalf("ledgertest: bootstrap: %v %v", created, err)
	}
	a, err := l.Service.Authenticate(ctx, "Bearer "+l.Token)
	if err != nil {
		tb.Fatal(err)
	}
	l.Admin = a
	enabled := true
	if _, err := l.Service.SetSettings(ctx, a, "", commands.SetSettings{Enabled: &enabled}); err != nil {
		tb.Fatal(err)
	}
	return l
}

// Start runs one instance (service, projector, its own SQLite file) on the
// stream js reaches, creating the stream if needed.
func Start(tb testing.TB, js jetstream.JetStream) *Ledger {
	tb.Helper()
	store := events.NewStore(js)
	ctx := context.Background()
	if err := store.Open(ctx); err != nil {
		tb.Fatal(err)
	}
	db := projections.NewDB(filepath.Join(tb.TempDir(), "ledger.db"))
	db.Use("ledger", audit.NewApplier())
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	p := projections.NewProjector(db, store)
	l := &Ledger{Service: commands.NewService(store, db, p), Store: store, DB: db, Projector: p}
	l.Service.Trail = &audit.Trail{DB: db.SQL(), Events: store}
	p.AfterCommit = l.Service.Observe
	// As in keyledger serve (where the verify index takes them), owner
	// commands hand their events on and reply before the projections hold
	// them; reads wait instead.
	l.Service.Appended = func([]events.Recorded) {}
	history := projections.NewHistory(store)
	history.Dir = tb.TempDir()
	l.Service.History = history
	l.Service.Audit = &audit.Queries{DB: db.SQL(), Now: time.Now}
	tb.Cleanup(history.Close)
	pctx, cancel := context.WithCancel(ctx)
	l.Pause = cancel
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ledgertest: projector: %v", err)
		}
	})
	return l
}

// Join starts a second instance on l's stream, caught up, acting as l's admin.
func (l *Ledger) Join(tb testing.TB) *Ledger {
	tb.Helper()
	m := Start(tb, l.Store.JS)
	m.Token, m.Admin = l.Token, l.Admin
	if err := m.Projector.WaitFor(context.Background(), l.LastSeq(tb)); err != nil {
		tb.Fatal(err)
	}
	return m
}

// Developer registers a developer and issues them a key; it returns them
// acting through that key, and the key's token.
func (l *Ledger) Developer(tb testing.TB, name string) (commands.Actor, string) {
	tb.Helper()
	return l.User(tb, name, "developer")
}

// User registers a user with roles and issues them a key; it returns them
// acting through that key, and the key's token.
func (l *Ledger) User(tb testing.TB, name string, roles ...string) (commands.Actor, string) {
	tb.Helper()
	ctx := context.Background()
	u, err := l.Service.RegisterUser(ctx, l.Admin, "", commands.RegisterUser{Name: name, Roles: roles})
	if err != nil {
		tb.Fatal(err)
	}
	k, err := l.Service.IssueKey(ctx, l.Admin, "", commands.IssueKey{Owner: u.ID, Name: name + "-cli"})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := l.Service.Authenticate(ctx, "Bearer "+k.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return a, k.Token
}

// LastSeq returns the stream's last sequence.
func (l *Ledger) LastSeq(tb testing.TB) uint64 {
	tb.Helper()
	seq, err := l.Store.LastSeq(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}
