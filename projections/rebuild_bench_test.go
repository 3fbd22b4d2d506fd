package projections_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
)

// rebuildEvents is how many events BenchmarkRebuild projects per run.
const rebuildEvents = 100_000

// seedRebuild stores about n events in a real stream: owners of 499 keys,
// each registered and issued in one atomic batch, then half of each owner's
// keys revoked in a second batch.
func seedRebuild(b testing.TB, n int) (*events.Store, uint64) {
	b.Helper()
	ctx := context.Background()
	_, js := natstest.Connect(b, natstest.RunServer(b))
	store := events.NewStore(js)
	if err := store.Open(ctx); err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for o := 0; ; o++ {
		last, err := store.LastSeq(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if last >= uint64(n) {
			return store, last
		}
		owner := fmt.Sprintf("01HOWNER%018d", o)
		m := events.Meta{At: at, Actor: "bench", ActorKey: "01HBENCHKEY000000000000000", Source: "http 10.0.0.1:5555"}
		issue := []events.Event{&events.UserRegistered{Meta: m, UserID: owner, Name: "owner " + owner[18:], Kind: keyledger.KindService, Roles: []string{keyledger.RoleDeveloper}}}
		var revoke []events.Event
		for k := range 499 {
			id := fmt.Sprintf("01HKEY%08d%012d", o, k)
			issue = append(issue, &events.KeyIssued{Meta: m, KeyID: id, Owner: owner, Name: fmt.Sprint("key ", k),
				Scopes: []string{"read", "write"}, SecretHash: "5f2b8c0e9d1a4b3c6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"})
			if k%2 == 0 {
				revoke = append(revoke, &events.KeyRevoked{Meta: m, KeyID: id, Owner: owner, Reason: "rotated"})
			}
		}
		seq, err := store.Append(ctx, events.OwnerSubjects(owner), 0, "", issue)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Append(ctx, events.OwnerSubjects(owner), seq, "", revoke); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebuild projects a stream of ~100,000 events into an empty
// ledger.db, from the real stream: with the built-in projections only, and
// with the audit trail (rows and tree) too. It reports events/s, and the
// process's CPU time per event (the embedded server's included): on n cores
// no rebuild beats n seconds ÷ that figure.
func BenchmarkRebuild(b *testing.B) {
	store, last := seedRebuild(b, rebuildEvents)
	for _, withAudit := range []bool{false, true} {
		name := "state"
		if withAudit {
			name = "state+audit"
		}
		b.Run(name, func(b *testing.B) {
			var total, cpu time.Duration
			for i := 0; i < b.N; i++ {
				db := projections.NewDB(filepath.Join(b.TempDir(), "ledger.db"))
				if withAudit {
					db.Use("ledger", audit.NewApplier())
				}
				if err := db.Open(); err != nil {
					b.Fatal(err)
				}
				p := projections.NewProjector(db, store)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				start, cpu0 := time.Now(), projections.CPUTime()
				go func() { done <- p.Run(ctx) }()
				if err := p.WaitFor(ctx, last); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				cpu += projections.CPUTime() - cpu0
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
			b.ReportMetric(float64(last)*float64(b.N)/total.Seconds(), "events/s")
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(last)/float64(b.N), "cpu-µs/event")
			}
		})
	}
}
