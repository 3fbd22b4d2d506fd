package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricSources are what /metrics reads at each scrape; serve fills them
// from the running instance. Nil sources are left out.
type MetricSources struct {
	// Stream returns the event stream's last sequence and when it was stored.
	Stream func(ctx context.Context) (seq uint64, at time.Time, err error)
	// Projections returns, per projection, the last sequence applied and the
	// time that event was recorded.
	Projections func() map[string]Position
	// KeysByStatus counts keys by their effective status.
	KeysByStatus func(ctx context.Context) (map[string]int, error)
	// IndexSize is how many keys the in-memory verify index holds.
	IndexSize func() int
	// NATSConnected reports whether the instance's NATS connection is up.
	NATSConnected func() bool
	// CheckpointAge is how long ago the newest signed audit checkpoint was
	// made; ok is false before there is one.
	CheckpointAge func() (age time.Duration, ok bool)
	// Witness, if set, is the size of the last checkpoint this instance
	// co-signed and, while it is not co-signing, why.
	Witness func() (size int64, problem error)
	// GroupCommit, if set, counts per stream the waits for the disk and
	// the fsync rounds that served them (embedded server, --nats-sync
	// always): calls ÷ rounds is how many writes one fsync carries.
	GroupCommit func() map[string]GroupCommitStats
	// StreamsWritable, if set, reports per stream whether the server can
	// still store its messages (false after a write to its files failed,
	// until a restart).
	StreamsWritable func() map[string]bool
}

// GroupCommitStats is one stream's group commit so far.
type GroupCommitStats struct {
	Calls, Rounds uint64
}

// Position is where a projection stands.
type Position struct {
	Seq uint64
	At  time.Time
	// HaltedAt is the sequence of the event it halted on (0: running);
	// Skipped counts the unreadable records it passed over (usage).
	HaltedAt uint64
	Skipped  uint64
}

// Metrics is the instance's Prometheus registry and the instruments the
// transports update. NewMetrics builds it; Handler serves it.
type Metrics struct {
	Registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	verifications *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
}

// NewMetrics registers keyledger's metrics, the Go runtime's and the
// process's, reading src at every scrape.
func NewMetrics(src MetricSources) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyledger_requests_total",
			Help: "Commands and queries answered, over NATS and HTTP, by catalogue entry and result code (\"ok\" or an error code).",
		}, []string{"endpoint", "code"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyledger_verifications_total",
			Help: "Key verifications by result code (\"valid\" or why not).",
		}, []string{"code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyledger_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route", "method", "code"}),
	}
	m.Registry.MustRegister(m.requests, m.verifications, m.httpDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&sourceCollector{src: src})
	return m
}

// Request counts one answered command or query; code is "" for success.
func (m *Metrics) Request(endpoint, code string) {
	if code == "" {
		code = "ok"
	}
	m.requests.WithLabelValues(endpoint, code).Inc()
}

// Verification counts one verification by its result code ("" is valid).
func (m *Metrics) Verification(code string) {
	if code == "" {
		code = "valid"
	}
	m.verifications.WithLabelValues(code).Inc()
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// instrument times h under route.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.httpDuration.MustCurryWith(prometheus.Labels{"route": route}), h)
}

// sourceCollector reads the instance's state at scrape time.
type sourceCollector struct{ src MetricSources }

var (
	descStreamSeq   = prometheus.NewDesc("keyledger_stream_last_seq", "Sequence of the newest event in the KEYLEDGER stream.", nil, nil)
	descLagEvents   = prometheus.NewDesc("keyledger_projection_lag_events", "Events stored in the stream that a projection has not applied yet.", []string{"projection"}, nil)
	descLagSeconds  = prometheus.NewDesc("keyledger_projection_lag_seconds", "How far behind the newest stored event a projection's last applied event is.", []string{"projection"}, nil)
	descApplied     = prometheus.NewDesc("keyledger_projection_applied_seq", "Last stream sequence a projection applied.", []string{"projection"}, nil)
	descHalted      = prometheus.NewDesc("keyledger_projection_halted_seq", "Sequence of the event a projection halted on (see /readyz and `keyledger admin skip-event`); 0 while it runs.", []string{"projection"}, nil)
	descSkipped     = prometheus.NewDesc("keyledger_projection_skipped_total", "Unreadable records a projection passed over (usage).", []string{"projection"}, nil)
	descKeys        = prometheus.NewDesc("keyledger_keys", "Keys by effective status.", []string{"status"}, nil)
	descIndex       = prometheus.NewDesc("keyledger_verify_index_keys", "Keys held by the in-memory verify index.", nil, nil)
	descNATS        = prometheus.NewDesc("keyledger_nats_connected", "1 while the instance's NATS connection is up.", nil, nil)
	descCheckpoint  = prometheus.NewDesc("keyledger_audit_checkpoint_age_seconds", "Age of the newest signed audit checkpoint.", nil, nil)
	descScrapeError = prometheus.NewDesc("keyledger_scrape_errors", "Sources that failed during this scrape.", []string{"source"}, nil)
	descWitnessSize = prometheus.NewDesc("keyledger_audit_witness_cosigned_size", "Size of the last audit checkpoint this instance co-signed as a witness.", nil, nil)
	descWitnessOK   = prometheus.NewDesc("keyledger_audit_witness_ok", "1 while this instance's witness co-signs; 0 while it refuses a checkpoint or cannot use its state (the log says why).", nil, nil)
	descSyncCalls   = prometheus.NewDesc("keyledger_groupcommit_waits_total", "Waits for a stream's writes to be on disk (a command's reply, a projected batch).", []string{"stream"}, nil)
	descWritable    = prometheus.NewDesc("keyledger_stream_writable", "1 while the server can store the stream's messages; 0 once a write to its files failed (a full disk, no open files left), until keyledger is restarted.", []string{"stream"}, nil)
	descSyncRounds  = prometheus.NewDesc("keyledger_groupcommit_fsync_rounds_total", "fsync rounds that served those waits; several waits share a round.", []string{"stream"}, nil)
)

// Describe implements prometheus.Collector.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreamSeq, descLagEvents, descLagSeconds, descApplied, descHalted, descSkipped, descKeys, descIndex, descNATS, descCheckpoint, descScrapeError, descWitnessSize, descWitnessOK, descSyncCalls, descSyncRounds, descWritable} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	failed := func(source string) { gauge(descScrapeError, 1, source) }
	s := c.src
	if s.Stream != nil {
		if last, lastAt, err := s.Stream(ctx); err != nil {
			failed("stream")
		} else {
			gauge(descStreamSeq, float64(last))
			if s.Projections != nil {
				for name, p := range s.Projections() {
					gauge(descApplied, float64(p.Seq), name)
					gauge(descHalted, float64(p.HaltedAt), name)
					ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(p.Skipped), name)
					if name != "ledger" {
						continue // other streams have their own sequences
					}
					gauge(descLagEvents, float64(last-min(p.Seq, last)), name)
					lag := 0.0
					if p.Seq < last && !p.At.IsZero() {
						lag = max(0, lastAt.Sub(p.At).Seconds())
					}
					gauge(descLagSeconds, lag, name)
				}
			}
		}
	}
	if s.KeysByStatus != nil {
		if counts, err := s.KeysByStatus(ctx); err != nil {
			failed("keys")
		} else {
			for status, n := range counts {
				gauge(descKeys, float64(n), status)
			}
		}
	}
	if s.IndexSize != nil {
		gauge(descIndex, float64(s.IndexSize()))
	}
	if s.NATSConnected != nil {
		up := 0.0
		if s.NATSConnected() {
			up = 1
		}
		gauge(descNATS, up)
	}
	if s.CheckpointAge != nil {
		if age, ok := s.CheckpointAge(); ok {
			gauge(descCheckpoint, age.Seconds())
		}
	}
	if s.GroupCommit != nil {
		for stream, st := range s.GroupCommit() {
			ch <- prometheus.MustNewConstMetric(descSyncCalls, prometheus.CounterValue, float64(st.Calls), stream)
			ch <- prometheus.MustNewConstMetric(descSyncRounds, prometheus.CounterValue, float64(st.Rounds), stream)
		}
	}
	if s.StreamsWritable != nil {
		for stream, ok := range s.StreamsWritable() {
			v := 0.0
			if ok {
				v = 1
			}
			gauge(descWritable, v, stream)
		}
	}
	if s.Witness != nil {
		size, problem := s.Witness()
		ok := 1.0
		if problem != nil {
			ok = 0
		}
		gauge(descWitnessSize, float64(size))
		gauge(descWitnessOK, ok)
	}
}
