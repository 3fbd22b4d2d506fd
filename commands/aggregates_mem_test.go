package commands

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// tenKeys is a StateSource whose every owner holds ten active keys, as in
// the 1,000,000 keys over 100,000 owners the write path is sized for.
type tenKeys struct{}

func (tenKeys) OwnerState(_ context.Context, id string) (*Owner, uint64, error) {
	o := NewOwner(id)
	o.Exists, o.Active, o.Name, o.Kind, o.Roles = true, true, "svc-"+id[20:], keyledger.KindService, []string{keyledger.RoleDeveloper}
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		kid := fmt.Sprintf("%s%02d", id[:24], i)
		o.Keys[kid] = &Key{ID: kid, Name: fmt.Sprintf("deploy-%d", i), Status: keyledger.StatusActive, ExpiresAt: &exp}
		o.KeyOrder = append(o.KeyOrder, kid)
	}
	return o, 1, nil
}

func (tenKeys) SettingsState(context.Context) (keyledger.Settings, uint64, error) {
	return keyledger.DefaultSettings(), 0, nil
}

func (tenKeys) CommandOutcome(context.Context, string, string) (string, bool, error) {
	return "", false, nil
}

// BenchmarkDecisionStateMemory touches 100,000 owners of 10 keys each (a
// million keys) through the in-memory decision state and reports the Go heap
// it holds: bounded by DefaultMaxCachedKeys, whatever the ledger's size.
//
//	go test -run '^$' -bench DecisionStateMemory ./commands
func BenchmarkDecisionStateMemory(b *testing.B) {
	for range b.N {
		g := newAggregates(tenKeys{}, DefaultMaxCachedKeys)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range 100_000 {
			if _, err := g.owner(context.Background(), fmt.Sprintf("%026d", i)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := float64(int64(after.HeapInuse) - int64(before.HeapInuse))
		b.ReportMetric(held/(1<<20), "MB-held")
		b.ReportMetric(float64(len(g.owners)), "owners-held")
		b.ReportMetric(held/float64(g.keys), "B/key-held")
		runtime.KeepAlive(g)
	}
}

// The bound holds: touching a million keys' worth of owners keeps at most
// DefaultMaxCachedKeys of them in memory.
func TestDecisionStateStaysWithinItsBound(t *testing.T) {
	g := newAggregates(tenKeys{}, 1000)
	for i := range 5000 {
		if _, err := g.owner(context.Background(), fmt.Sprintf("%026d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if g.keys > 1000 || len(g.owners) != 1000/11 || g.lru.Len() != len(g.owners) {
		t.Fatalf("holds %d keys over %d owners (lru %d); want at most 1,000 keys", g.keys, len(g.owners), g.lru.Len())
	}
}
