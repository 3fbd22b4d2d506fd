package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/groupcommit"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/verifier"
	"github.com/keyledger/keyledger/web"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/note"
)

// Main is the server: `keyledger serve`. ParseFlags fills the fields, Run
// starts everything and returns, Close stops it.
type Main struct {
	DataDir             string
	NATSListen          string // embedded server's client address
	NATSURL             string // external NATS; embeds nothing when set
	NATSSync            string // embedded JetStream: "always" (every write on disk before it is answered), "each", or an interval
	Replicas            int
	HTTPAddr            string
	VerifyTokenRequired bool
	UsageRetention      string        // ISO 8601 period
	SweepEvery          time.Duration // how often expired keys are recorded
	// StreamCheckEvery is how often the embedded server is asked whether it
	// can still write each stream (streamhealth.go; 2 s).
	StreamCheckEvery time.Duration
	Instance         string // names this instance in usage records
	// RestoreStreamConfig puts back a stream configuration someone changed,
	// instead of refusing to start (the restoration is logged).
	RestoreStreamConfig bool
	Stdout              io.Writer
	Logger              *slog.Logger
	// Now is the clock of every decision and verification (tests move it).
	Now func() time.Time
	// BeforeCommit is passed to the projector (crash tests).
	BeforeCommit func(lastSeq uint64)
	// CheckpointEvery and CheckpointInterval pace the audit log's signed
	// checkpoints (1000 events, 60 s).
	CheckpointEvery    uint64
	CheckpointInterval time.Duration
	// Cosign makes this instance a witness of the log: it co-signs each
	// newest checkpoint whose root it computed too, with its own key in
	// DIR/witness.key (--cosign, on by default).
	Cosign bool
	// WitnessKeyFiles, if any, hold the verifier keys of the witnesses
	// whose co-signatures receipts carry (--witness-key, repeatable).
	WitnessKeyFiles []string

	// NATSNkeyFile is keyledger's own user (an nkey seed) on an external
	// NATS server (--nats); the embedded server's is in the data directory.
	NATSNkeyFile string
	// CalloutNkeyFile is the account nkey seed that signs auth callout
	// answers on an external NATS server; without it, this instance does
	// not answer the callout.
	CalloutNkeyFile string
	// PprofAddr serves net/http/pprof there when set (--pprof).
	PprofAddr string

	ns         *server.Server
	syncPolicy syncPolicy // --nats-sync of the embedded server
	// syncers make the event and usage streams' writes durable, one fsync
	// for many (embedded server, --nats-sync always); nil otherwise.
	syncer, usageSyncer *groupcommit.Syncer
	nc                  *nats.Conn
	callout             *natsauth.Callout
	store               *events.Store
	usageStore          *events.Store // KEYLEDGER_USAGE: this instance's and gateways' usage
	db                  *projections.DB
	projector           *projections.Projector
	usage               *projections.Projector
	history             *projections.History
	index               *verifier.Index
	service             *commands.Service
	svc                 micro.Service
	http                *web.Server
	lock                *os.File // the data directory's lock (datadir.go)
	cancel              context.CancelFunc
	wg                  sync.WaitGroup
	done                chan error

	// checkpointer signs the audit log's checkpoints.
	checkpointer *audit.Checkpointer
	witness      *audit.Witness // nil without Cosign
	pprof        *http.Server
}

// NewMain returns a Main with the defaults of DESIGN.md.
func NewMain() *Main {
	return &Main{
		DataDir: "keyledger-data", NATSListen: "127.0.0.1:4222", NATSSync: "always", Replicas: 1, HTTPAddr: "127.0.0.1:8080",
		UsageRetention: "P400D", SweepEvery: 10 * time.Second, StreamCheckEvery: 2 * time.Second, CheckpointEvery: 1000, CheckpointInterval: time.Minute, Cosign: true,
		Stdout: os.Stdout, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Now: func() time.Time { return time.Now().UTC() },
	}
}

const serveHelp = `Usage: keyledger serve [--data DIR] [--nats-listen ADDR | --nats URL --replicas 3] [--http ADDR]

Run the ledger: embedded NATS JetStream and SQLite under --data, or an
external NATS server or cluster with --nats. The first start against an
empty stream writes the first admin's token to DIR/admin.token.

Flags:
`

const serveExamples = `
Examples:
  keyledger serve
  keyledger serve --data /var/lib/keyledger --http 0.0.0.0:8080
  keyledger serve --nats nats://n1:4222,nats://n2:4222 --replicas 3
`

// ParseFlags reads `serve` flags; --help prints them and returns flag.ErrHelp.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller reports a bad flag in one line
	fs.StringVar(&m.DataDir, "data", m.DataDir, "data directory: embedded JetStream, ledger.db, admin.token")
	fs.StringVar(&m.NATSListen, "nats-listen", m.NATSListen, "address the embedded NATS server listens on")
	fs.StringVar(&m.NATSURL, "nats", m.NATSURL, "URL of an external NATS server or cluster (embeds nothing)")
	fs.StringVar(&m.NATSNkeyFile, "nats-nkey", m.NATSNkeyFile, "with --nats: nkey seed file of keyledger's own NATS user (account LEDGER)")
	fs.StringVar(&m.CalloutNkeyFile, "nats-callout-nkey", m.CalloutNkeyFile, "with --nats: account nkey seed file that signs auth callout answers")
	fs.StringVar(&m.NATSSync, "nats-sync", m.NATSSync, "embedded JetStream: always (every write is on disk before it is answered; one fsync serves many), "+
		"each (nats-server fsyncs every message on its own: the same promise, slower), or an interval such as 1m (a power cut may lose that much)")
	fs.IntVar(&m.Replicas, "replicas", m.Replicas, "replicas of the streams (3 on a cluster)")
	fs.StringVar(&m.HTTPAddr, "http", m.HTTPAddr, "HTTP listen address")
	fs.BoolVar(&m.VerifyTokenRequired, "verify-token-required", false, "verification callers must present a key of their own")
	fs.StringVar(&m.UsageRetention, "usage-retention", m.UsageRetention, "how long usage records are kept (ISO 8601 period)")
	fs.DurationVar(&m.SweepEvery, "sweep-every", m.SweepEvery, "how often expired keys are recorded as expired")
	fs.StringVar(&m.Instance, "instance", "", "name of this instance in usage records (default: a new ID)")
	fs.Uint64Var(&m.CheckpointEvery, "checkpoint-every", m.CheckpointEvery, "sign an audit checkpoint after this many events")
	fs.DurationVar(&m.CheckpointInterval, "checkpoint-interval", m.CheckpointInterval, "sign an audit checkpoint this often when the log grew")
	fs.BoolVar(&m.Cosign, "cosign", m.Cosign, "co-sign the log's checkpoints as a witness, with this instance's own key (DIR/witness.key)")
	fs.Var((*fileList)(&m.WitnessKeyFiles), "witness-key", "`FILE` with a witness's verifier key (`audit pubkey --witness`): receipts carry only these witnesses' co-signatures; repeat for each (default: any that verify)")
	fs.StringVar(&m.PprofAddr, "pprof", "", "serve Go's runtime profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off by default)")
	fs.BoolVar(&m.RestoreStreamConfig, "restore-stream-config", false, "restore the streams' configuration if someone changed it, instead of refusing to start")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(m.Stdout, serveHelp)
		fs.SetOutput(m.Stdout)
		fs.PrintDefaults()
		fmt.Fprint(m.Stdout, serveExamples)
		return err
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
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
	if m.Instance == "" {
		m.Instance = ulid.Make().String()
	}
	if m.PprofAddr != "" {
		if err := m.servePprof(m.PprofAddr); err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
	}
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return err
	}
	if m.lock, err = lockDataDir(m.DataDir); err != nil {
		return err
	}
	// Before anything is created: a busy port is said at once, by flag,
	// not after a 30 s wait or a half-written data directory.
	if err := checkListen("--http", m.HTTPAddr); err != nil {
		return err
	}
	if m.NATSURL == "" {
		if err := checkListen("--nats-listen", m.NATSListen); err != nil {
			return err
		}
	}
	if err := m.connect(); err != nil {
		return err
	}
	// `keyledger admin recover` finds this server here.
	if err := os.WriteFile(filepath.Join(m.DataDir, natsURLFile), []byte(m.ClientURL()+"\n"), 0o600); err != nil {
		return err
	}
	usageStore, err := m.openStores(ctx)
	if err != nil {
		return err
	}
	m.usageStore = usageStore
	if err := m.openProjections(ctx, usageStore); err != nil {
		return err
	}
	signer, logKey, err := audit.LoadOrCreateKey(filepath.Join(m.DataDir, "audit.key"), audit.Origin)
	if err != nil {
		return err
	}
	m.checkpointer = &audit.Checkpointer{DB: m.db.SQL(), Store: m.store, Signer: signer, Every: m.CheckpointEvery,
		Interval: m.CheckpointInterval, Now: m.Now, Logger: m.Logger}
	m.service.Checkpoint = m.checkpointer.Cover
	if m.Cosign {
		if m.witness, err = m.openWitness(logKey); err != nil {
			return err
		}
	}
	if err := m.bootstrap(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := m.serve(); err != nil {
		return err
	}
	m.background(usageStore)
	m.Logger.Info("keyledger serving", "nats", m.ClientURL(), "http", m.http.URL(), "data", m.DataDir, "instance", m.Instance)
	return nil
}

// openWitness loads this instance's witness key (created at first start,
// named after the log and a new ULID) and its state, in the data directory.
func (m *Main) openWitness(logKey string) (*audit.Witness, error) {
	signer, vkey, err := audit.LoadOrCreateWitnessKey(filepath.Join(m.DataDir, witnessKeyFile), audit.Origin+"/witness/"+ulid.Make().String())
	if err != nil {
		return nil, err
	}
	logV, err := note.NewVerifier(logKey)
	if err != nil {
		return nil, err
	}
	return &audit.Witness{DB: m.db.SQL(), Store: m.store, Signer: signer, VerifierKey: vkey, Log: note.VerifierList(logV),
		StatePath: filepath.Join(m.DataDir, "witness.state"), Now: m.Now, Logger: m.Logger, Ready: m.projector.Ready()}, nil
}

// witnessKeyFile is the witness key's file in the data directory.
const witnessKeyFile = "witness.key"

func (m *Main) openStores(ctx context.Context) (*events.Store, error) {
	js, err := jetstream.New(m.nc)
	if err != nil {
		return nil, err
	}
	retention, err := keyledger.ParsePeriod(m.UsageRetention)
	if err != nil {
		return nil, fmt.Errorf("--usage-retention: %w", err)
	}
	m.store = events.NewStore(js)
	usage := events.NewUsageStore(js)
	m.store.Replicas, usage.Replicas = m.Replicas, m.Replicas
	usage.MaxAge = retention.Duration()
	for _, s := range []*events.Store{m.store, usage} {
		if err := m.openStore(ctx, s); err != nil {
			if m.NATSURL != "" && m.NATSNkeyFile == "" {
				// The usual cause: connected as nobody in particular, so
				// JetStream's API is not this connection's to call.
				return nil, fmt.Errorf("%w (with --nats, keyledger connects as its own user: --nats-nkey FILE, "+
					"e.g. DIR/nats-service.nk of an instance that embeds the server; see the README)", err)
			}
			return nil, err
		}
	}
	if m.ns != nil && m.syncPolicy.group {
		// One syncer per stream: commands wait for the event stream's
		// fsync only, the usage projection for the usage stream's.
		dir := filepath.Join(m.DataDir, "nats")
		if m.syncer, err = groupcommit.Open(dir, m.store.Stream); err != nil {
			return nil, err
		}
		if m.usageSyncer, err = groupcommit.Open(dir, usage.Stream); err != nil {
			return nil, err
		}
	}
	return usage, nil
}

// openStore opens one stream, refusing one whose configuration someone
// changed unless --restore-stream-config is given.
func (m *Main) openStore(ctx context.Context, s *events.Store) error {
	var changed *events.ConfigError
	err := retry(ctx, 30*time.Second, func() error {
		err := s.Open(ctx)
		if errors.As(err, &changed) {
			return nil // not a cluster still electing: decided below
		}
		return err
	})
	if err != nil || changed == nil {
		return err
	}
	if !m.RestoreStreamConfig {
		return changed
	}
	diffs, err := s.Restore(ctx)
	if err != nil {
		return err
	}
	for _, d := range diffs {
		m.Logger.Warn("restored stream configuration", "stream", s.Stream, "field", d.Field, "want", d.Want, "had", d.Have)
	}
	return nil
}

// openProjections opens ledger.db, loads the verify index from it, and
// starts both projectors; the event projector feeds the index each batch.
func (m *Main) openProjections(ctx context.Context, usageStore *events.Store) error {
	m.db = projections.NewDB(filepath.Join(m.DataDir, "ledger.db"))
	m.db.Now = m.Now
	m.db.Use("ledger", audit.NewApplier())
	if err := m.db.Open(); err != nil {
		return err
	}
	if m.db.Inconsistent != nil {
		m.Logger.Warn("ledger.db does not match its own positions (damaged, or altered); rebuilding it from the event stream, and keeping the old file for inspection (keyledger audit verify --data on a copy of it)",
			"db", m.db.Path, "kept", m.db.KeptAside, "reason", m.db.Inconsistent)
	}
	if m.db.Rebuilt {
		m.Logger.Info("building projections from the event stream", "db", m.db.Path)
	}
	if err := m.checkHistory(ctx, usageStore); err != nil {
		return err
	}
	m.index = verifier.NewIndex()
	m.index.Now = m.Now
	settings, err := m.db.Settings(ctx)
	if err != nil {
		return err
	}
	m.index.SetPolicy(settings)
	start, before := time.Now(), heapInUse()
	seq, err := m.loadIndex(ctx)
	if err != nil {
		return fmt.Errorf("load verify index: %w", err)
	}
	m.index.SetSeq(seq)
	m.Logger.Info("verify index loaded", "keys", m.index.Len(), "seq", seq, "seconds", time.Since(start).Seconds(),
		"index_mb", max(0, int64(heapInUse())-int64(before))>>20)

	m.projector = projections.NewProjector(m.db, m.store)
	m.usage = projections.NewProjector(m.db, usageStore)
	m.usage.Name = "usage"
	// Usage is telemetry: junk there is counted and passed over. Each
	// stream holds only its own kind of event.
	m.usage.SkipUnreadable = true
	m.usage.Accept = func(e events.Event) bool { _, ok := e.(*events.UsageRecorded); return ok }
	m.projector.Accept = func(e events.Event) bool { _, ok := e.(*events.UsageRecorded); return !ok }
	feed := func(batch []events.Recorded) {
		for _, r := range batch {
			m.index.Apply(r)
		}
	}
	m.service = commands.NewService(m.store, m.db, m.projector)
	m.service.Logger, m.service.Now, m.service.KeyIndex = m.Logger, m.Now, m.index
	if m.syncer != nil {
		// Nothing is answered or projected before it is on disk.
		m.service.Durable, m.projector.Durable, m.usage.Durable = m.syncer.Sync, m.syncer.Sync, m.usageSyncer.Sync
	}
	m.history = projections.NewHistory(m.store)
	m.service.History = m.history
	m.service.Audit = &audit.Queries{DB: m.db.SQL(), Now: m.Now}
	trail := &audit.Trail{DB: m.db.SQL(), Events: m.store}
	for _, path := range m.WitnessKeyFiles {
		k, err := readWitnessKey(path)
		if err != nil {
			return err
		}
		trail.Witnesses = append(trail.Witnesses, k)
	}
	m.service.Trail = trail
	m.projector.AfterCommit = func(batch []events.Recorded) {
		feed(batch)
		m.index.SetSeq(batch[len(batch)-1].Seq)
		m.service.Observe(batch)
		m.endConnections(batch)
	}
	// An owner command's events reach the verify index (and end the
	// connections of keys it revoked) as soon as they are stored, so the
	// command replies without waiting for SQLite; reads wait instead.
	m.service.Appended = func(batch []events.Recorded) {
		feed(batch)
		m.endConnections(batch)
	}
	m.usage.AfterCommit = feed
	for _, p := range []*projections.Projector{m.projector, m.usage} {
		p.Logger = m.Logger
	}
	m.projector.BeforeCommit = m.BeforeCommit
	pctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 2)
	for _, p := range []*projections.Projector{m.projector, m.usage} {
		m.wg.Go(func() {
			// Usage starts once the ledger projection holds what the stream
			// held at start: a use applied before its key exists would be
			// lost to the verify index, and after a rebuild of ledger.db the
			// sweeper would then expire a key used yesterday as idle.
			if p == m.usage {
				select {
				case <-m.projector.Ready():
				case <-pctx.Done():
					return
				}
			}
			if err := p.Run(pctx); err != nil {
				m.done <- fmt.Errorf("projection %s: %w", p.Name, err)
			}
		})
	}
	return nil
}

// loadIndex fills the verify index from ledger.db, reading rows on one
// goroutine and indexing them on another.
func (m *Main) loadIndex(ctx context.Context) (uint64, error) {
	batches := make(chan []*keyledger.Credential, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range batches {
			for _, c := range b {
				m.index.Put(c)
			}
		}
	}()
	batch := make([]*keyledger.Credential, 0, 1024)
	seq, err := m.db.Credentials(ctx, func(c *keyledger.Credential) error {
		if batch = append(batch, c); len(batch) == cap(batch) {
			batches <- batch
			batch = make([]*keyledger.Credential, 0, 1024)
		}
		return nil
	})
	batches <- batch
	close(batches)
	<-done
	return seq, err
}

// heapInUse is the Go heap in use after a collection: the difference across
// the index load is the index's own size.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// serve registers the NATS micro service and starts HTTP.
func (m *Main) serve() error {
	var authorize verifier.Authorize
	if m.VerifyTokenRequired {
		authorize = func(bearer string, from netip.Addr) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if from.IsValid() {
				ctx = commands.WithClientAddr(ctx, from)
			}
			_, err := m.service.Authenticate(ctx, bearer)
			return err
		}
	}
	mx := m.metrics() // before anything is served: it sets the counting hooks
	if err := m.openCallout(); err != nil {
		return err
	}
	var err error
	if m.svc, err = commands.ServeNATS(m.nc, m.service, version, commands.DefaultWorkers); err != nil {
		return err
	}
	verify := commands.VerifyHandler(m.index, authorize)
	for range commands.DefaultWorkers { // a handler answers one request at a time
		if err := m.svc.AddEndpoint("verify", verify, micro.WithEndpointSubject("keyledger.verify")); err != nil {
			return err
		}
	}
	// Gateways report their verifications here, so that use through a
	// gateway counts as use (last_used_at, inactivity, the audit trail).
	// Several workers, so that one gateway's slow report (a large body)
	// does not hold up every other gateway's.
	report := commands.GatewayUsageHandler(m.index, m.usageStore, m.Now, m.Logger)
	for range gatewayUsageWorkers {
		if err := m.svc.AddEndpoint("gateway-usage", report, micro.WithEndpointSubject(events.GatewayUsageSubject)); err != nil {
			return err
		}
	}
	m.http = web.NewServer(m.HTTPAddr, m.service, m.ready)
	m.http.Verify, m.http.Logger, m.http.Version = web.VerifyHandler(m.index, authorize), m.Logger, version
	m.http.Metrics = mx
	m.http.MaxConns = httpMaxConns(openFileLimit())
	m.http.Live = liveFeed(m.nc)
	return m.http.Open()
}

// gatewayUsageWorkers is how many gateway usage reports one instance
// handles at once.
const gatewayUsageWorkers = 4

// background starts the usage recorder, the expiry sweeper and the GC pacer.
func (m *Main) background(usageStore *events.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	prev := m.cancel
	m.cancel = func() { cancel(); prev() }
	m.wg.Go(func() { m.index.RecordUsage(ctx, usageStore, m.Instance, m.Logger) })
	m.wg.Go(func() { keepHeapFloor(ctx, 64<<20, time.Second) })
	m.wg.Go(func() { m.checkpointer.Run(ctx) })
	if m.ns != nil {
		m.wg.Go(func() { m.watchStreams(ctx, m.StreamCheckEvery, m.store, usageStore) })
	}
	if m.witness != nil {
		m.wg.Go(func() { m.witness.Run(ctx) })
	}
	m.wg.Go(func() {
		tick := time.NewTicker(m.SweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				m.sweep(ctx)
			}
		}
	})
}

// sweep records every key that is due as expired. Several instances may
// sweep the same key at once; the owner's expected sequence lets one win.
// Until the projections have caught up, the index may not know of recent
// uses yet, and an idle-looking key may not be idle: nothing is swept then.
func (m *Main) sweep(ctx context.Context) {
	if m.ready() != nil {
		return // catching up, or halted: commands are refused until an admin acts
	}
	for _, due := range m.index.Due(m.Now()) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.service.ExpireKey(sctx, due.Owner, due.KeyID, due.Reason)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.Logger.Warn("recording an expiry failed; will retry", "key_id", due.KeyID, "err", err)
		}
	}
}

// checkHistory refuses to serve projections that are ahead of their
// stream: history was erased, and answers would be stale.
func (m *Main) checkHistory(ctx context.Context, usageStore *events.Store) error {
	for _, c := range []struct {
		name  string
		store *events.Store
	}{{"ledger", m.store}, {"usage", usageStore}} {
		applied, err := m.db.Position(ctx, c.name)
		if err != nil {
			return err
		}
		if err := c.store.CheckHistory(ctx, applied); err != nil {
			return err
		}
	}
	return nil
}
