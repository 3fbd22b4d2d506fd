package main

import (
	"context"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/groupcommit"
	"github.com/keyledger/keyledger/projections"
	"github.com/keyledger/keyledger/web"
)

// metrics builds the Prometheus registry over this instance's parts.
func (m *Main) metrics() *web.Metrics {
	src := web.MetricSources{
		Stream: m.store.Last,
		Projections: func() map[string]web.Position {
			out := map[string]web.Position{}
			for _, p := range []*projections.Projector{m.projector, m.usage} {
				seq, at := p.Position()
				halted, _ := p.Halted()
				out[p.Name] = web.Position{Seq: seq, At: at, HaltedAt: halted, Skipped: p.Skipped()}
			}
			return out
		},
		KeysByStatus:  m.db.KeyCounts,
		IndexSize:     m.index.Len,
		NATSConnected: m.nc.IsConnected,
		CheckpointAge: func() (time.Duration, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			at, ok, err := (&audit.Trail{DB: m.db.SQL()}).LatestCheckpointAt(ctx)
			if err != nil || !ok {
				return 0, false
			}
			return m.Now().Sub(at), true
		},
	}
	if m.witness != nil {
		src.Witness = m.witness.Status
	}
	if m.syncer != nil {
		syncers := map[string]*groupcommit.Syncer{m.store.Stream: m.syncer, "KEYLEDGER_USAGE": m.usageSyncer}
		src.GroupCommit = func() map[string]web.GroupCommitStats {
			out := map[string]web.GroupCommitStats{}
			for name, s := range syncers {
				calls, rounds := s.Stats()
				out[name] = web.GroupCommitStats{Calls: calls, Rounds: rounds}
			}
			return out
		}
	}
	if m.ns != nil {
		src.StreamsWritable = func() map[string]bool {
			return map[string]bool{m.store.Stream: m.store.Fault() == nil, m.usageStore.Stream: m.usageStore.Fault() == nil}
		}
	}
	mx := web.NewMetrics(src)
	m.service.OnCall = mx.Request
	m.index.Observe = mx.Verification
	return mx
}
