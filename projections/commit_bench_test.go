package projections

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/events"
)

// liveBatch is about how many events a projector keeping up with a busy
// write path commits together (CommitEvery at a few thousand commands/s).
const liveBatch = 30

// BenchmarkLiveCommit commits batches of liveBatch events into ledger.db,
// with the audit trail, as a projector keeping up with commands does: each
// batch is a transaction of its own. It reports the cost per event, which
// is part of every command's CPU on one node.
func BenchmarkLiveCommit(b *testing.B) {
	db := NewDB(filepath.Join(b.TempDir(), "ledger.db"))
	db.Use("ledger", audit.NewApplier())
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p := NewProjector(db, nil)
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var seq uint64
	record := func(e events.Event) events.Recorded {
		data, err := events.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		seq++
		return events.Recorded{Seq: seq, Subject: events.Subject(e), Event: e, Data: data}
	}
	m := events.Meta{At: at, Actor: "01HADMIN00000000000000000A", ActorKey: "01HADMINKEY000000000000000", Source: "nats 10.0.0.1:5555 (gw)"}
	next := func(i int) events.Recorded {
		owner := fmt.Sprintf("01HOWNER%018d", i/100)
		key := fmt.Sprintf("01HKEY%020d", i)
		mc := m
		mc.CommandID = fmt.Sprintf("01HCMD%020d", i)
		switch {
		case i%100 == 0:
			return record(&events.UserRegistered{Meta: mc, UserID: owner, Name: "owner", Kind: keyledger.KindService, Roles: []string{keyledger.RoleDeveloper}})
		case i%10 == 5:
			return record(&events.KeyRevoked{Meta: mc, KeyID: fmt.Sprintf("01HKEY%020d", i-1), Owner: owner, Reason: "rotated"})
		case i%100 == 57:
			return record(&events.KeyRenamed{Meta: mc, KeyID: fmt.Sprintf("01HKEY%020d", i-1), Owner: owner, Name: "renamed"})
		}
		return record(&events.KeyIssued{Meta: mc, KeyID: key, Owner: owner, Name: "key", Scopes: []string{"read"},
			SecretHash: "5f2b8c0e9d1a4b3c6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"})
	}
	batch := make([]events.Recorded, 0, liveBatch)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch = append(batch, next(i))
		if len(batch) == liveBatch || i == b.N-1 {
			if _, bad, err := p.commit(batch); err != nil || bad != nil {
				b.Fatal(err, bad)
			}
			batch = batch[:0]
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
