// Package gateway embeds keyledger verification in a gateway process: its
// own verify index, built from the KEYLEDGER event stream (secret hashes
// only, never secrets) and kept current by following the stream, with
// revocations, deletions and expiries applied the moment they are stored.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Gateway verifies keys from its own copy of the index. Create it with New;
// Close stops it.
type Gateway struct {
	index  *verifier.Index
	store  *events.Store
	log    *slog.Logger
	subs   []*nats.Subscription
	cancel context.CancelFunc

	stopped chan struct{} // closed when following the stream has ended
	err     error         // why it ended; set before stopped is closed

	workers    sync.WaitGroup // the usage reporter and the connection watcher, until Close
	staleSince atomic.Int64   // Unix nanoseconds since the gateway may miss revocations; 0 when current
}

// endActions are the notifications that end a key's access.
var endActions = []string{"revoked", "deleted", "expired"}

// Config is how a gateway connects; the zero value of each optional field
// has a default.
type Config struct {
	// Conn is the NATS connection, with at least read access to the
	// KEYLEDGER stream (stream info and direct get) and the notifications.
	Conn *nats.Conn
	// Logger reports losing the stream and retrying (default slog.Default).
	Logger *slog.Logger
	// Now is the clock verifications are judged by (default time.Now).
	Now func() time.Time
	// DisableUsageReports stops the gateway from reporting its
	// verifications to keyledger (keyledger.gateway.usage, once a minute).
	// Without the reports, keyledger does not know the gateway's traffic:
	// a key used only through it keeps no last_used_at, the inactivity
	// policy ends it as idle, and traces and the suspicious ranking miss
	// it. Set it only to take the counts yourself (Index().TakeUsage).
	DisableUsageReports bool
	// MaxStale, if set, is how long the gateway may answer from its index
	// while it cannot hear of revocations: its connection is down, or
	// back but not yet caught up with the stream (Stale). Past it, every
	// verification answers CodeUnavailable until the index is current
	// again. Zero answers from the index however long it is cut off (a
	// key revoked meanwhile stays valid here until the gateway is back).
	MaxStale time.Duration
}

// New starts a gateway and returns once its index holds everything the
// stream held when it started. It fails, rather than wait forever, when the
// stream holds an event this build cannot decode; losing the stream while
// catching up is retried until ctx ends. After that, the gateway keeps
// following, retrying as the projector does; Done reports if it ever stops.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, err
	}
	g := &Gateway{index: verifier.NewIndex(), store: events.NewStore(js), log: cfg.Logger, stopped: make(chan struct{})}
	g.store.DirectReads = true // a gateway's credential may create no consumer
	// The gateway sees only its own verifications: it leaves judging a key
	// idle to keyledger, which sees them all and records the expiry.
	g.index.RecordedInactivity = true
	if cfg.Now != nil {
		g.index.Now = cfg.Now
	}
	if err := g.store.Bind(ctx); err != nil {
		return nil, err
	}
	target, err := g.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	for _, action := range endActions {
		sub, err := cfg.Conn.Subscribe(events.NotifyPrefix+action+".*", g.notified)
		if err != nil {
			g.unsubscribe()
			return nil, err
		}
		g.subs = append(g.subs, sub)
	}
	caughtUp := make(chan struct{})
	var once sync.Once
	if target == 0 {
		once.Do(func() { close(caughtUp) })
	}
	fctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() {
		defer close(g.stopped)
		defer g.index.Halt() // before stopped closes: Err and the index agree
		g.err = events.FollowRetrying(fctx, g.store, func() uint64 { return g.index.Seq() + 1 }, func(batch []events.Recorded) error {
			for _, r := range batch {
				if u, ok := r.Event.(*events.Undecodable); ok {
					return fmt.Errorf("seq %d: %w: %w", r.Seq, events.ErrUndecodable, u.Err)
				}
				g.index.Apply(r)
			}
			g.index.SetSeq(batch[len(batch)-1].Seq)
			if g.index.Seq() >= target {
				once.Do(func() { close(caughtUp) })
			}
			return nil
		}, func(err error) bool {
			// A connection closed for good (the server refused it again:
			// its credential was withdrawn) reconnects no more: retrying
			// would keep the index stale for ever, and say nothing.
			return errors.Is(err, events.ErrUndecodable) || errors.Is(err, nats.ErrConnectionClosed) || cfg.Conn.IsClosed()
		}, g.log)
		if cfg.Conn.IsClosed() {
			g.err = closedErr(cfg.Conn) // whoever noticed first, say why
		}
	}()
	g.workers.Go(func() { g.watch(fctx, cfg.Conn, cfg.MaxStale) })
	if !cfg.DisableUsageReports {
		g.workers.Go(func() { g.index.RecordUsage(fctx, reporter{cfg.Conn}, "", g.log) })
	}
	select {
	case <-caughtUp:
		return g, nil
	case <-g.stopped:
		g.Close()
		return nil, fmt.Errorf("gateway: following the stream: %w", g.err)
	case <-ctx.Done():
		g.Close()
		return nil, ctx.Err()
	}
}

// notified treats a notification as a hint only: anyone allowed to publish
// on keyledger.notify.> could forge its body and its Nats-Sequence header.
// The event is read from the stream at that sequence and applied only if it
// is the event the subject names.
func (g *Gateway) notified(m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil || seq <= g.index.Seq() {
		return // malformed, or already applied in order
	}
	action, keyID, ok := strings.Cut(strings.TrimPrefix(m.Subject, events.NotifyPrefix), ".")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := g.store.Get(ctx, seq)
	if err != nil {
		g.log.Debug("notification names no stored event; ignored", "subject", m.Subject, "seq", seq)
		return
	}
	if r.Event.Action() != action || r.Event.KeyRef() != keyID {
		g.log.Warn("notification does not match the stored event; ignored", "subject", m.Subject, "seq", seq)
		return
	}
	g.index.Apply(r)
}

// CodeUnavailable is the code of every verification a gateway answers
// once it has stopped following the stream on its own (Done): it refuses
// rather than answer from an index that no longer learns of revocations.
const CodeUnavailable = verifier.CodeUnavailable

// Verify answers from the gateway's own index, as the server would; once
// the gateway has stopped following (on its own, or Close), every answer is
// CodeUnavailable.
func (g *Gateway) Verify(token, scope, ip string) verifier.Result {
	return g.index.Verify(token, scope, ip)
}

// Index is the gateway's verify index, for serving it (web.VerifyHandler,
// commands.VerifyHandler) or taking its usage. It is halted when the
// gateway stops following, so served directly it refuses just as Verify
// does.
func (g *Gateway) Index() *verifier.Index { return g.index }

// Seq is the last stream sequence the gateway has applied in order.
func (g *Gateway) Seq() uint64 { return g.index.Seq() }

// Done is closed if the gateway stops following the stream on its own: an
// event it cannot decode, or its NATS connection closed for good (the
// servers refused it, as when its credential is withdrawn); Err then says
// why, and Verify refuses everything (CodeUnavailable). A gateway should
// stop serving, or start again with a newer build or credential.
func (g *Gateway) Done() <-chan struct{} { return g.stopped }

// Err is why following stopped, once Done is closed; nil before, and after
// Close.
func (g *Gateway) Err() error {
	select {
	case <-g.stopped:
		return g.err
	default:
		return nil
	}
}

func (g *Gateway) unsubscribe() {
	for _, s := range g.subs {
		s.Unsubscribe()
	}
	g.subs = nil
}

// Close stops following, reports the usage of the minute so far (waiting
// at most 30 s for keyledger), and unsubscribes; every verification after it answers CodeUnavailable.
func (g *Gateway) Close() error {
	g.unsubscribe()
	if g.cancel != nil {
		g.cancel()
		<-g.stopped
		g.workers.Wait()
	}
	return nil
}
