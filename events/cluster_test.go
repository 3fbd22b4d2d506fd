package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
)

// TestReadsOnALaggingReplicaSeeEveryAcknowledgedWrite reads through a
// replica whose link is slow, right after each write is acknowledged: the
// check a command makes for a policy change an admin just made through
// another instance (Latest), and what a gateway does with a revocation it
// has just been told of (Get). A direct get is answered by that replica,
// which has not stored the write yet.
func TestReadsOnALaggingReplicaSeeEveryAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const lag = 100 * time.Millisecond
	nodes := natstest.RunClusterLagging(t, 3, lag)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	slow := nodes[2]

	nc, js := natstest.Connect(t, nodes[0])
	openStore(t, js, 3, "KEYLEDGER")
	leader := natstest.StreamLeader(t, nodes, nc, "KEYLEDGER")
	_, jsWriter := natstest.Connect(t, leader)
	writer := events.NewStore(jsWriter)
	_, jsReader := natstest.Connect(t, slow)
	reader := events.NewStore(jsReader)
	for _, s := range []*events.Store{writer, reader} {
		if err := s.Bind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * lag) // the slow replica has caught up, and serves direct gets

	for i := range 5 {
		seq, err := writer.Record(ctx, &events.SettingsChanged{Meta: events.Meta{At: time.Now().UTC(), Actor: "admin"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := reader.Latest(ctx, events.SubjectSettingsChanged, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil || r.Seq != seq {
			got := uint64(0)
			if r != nil {
				got = r.Seq
			}
			t.Fatalf("write %d: latest on the slow replica is seq %d; want seq %d, acknowledged", i, got, seq)
		}
		seq, err = writer.Record(ctx, revoked("alice", "K1"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := reader.Get(ctx, seq); err != nil || got.Seq != seq {
			t.Fatalf("write %d: get seq %d on the slow replica: seq %d, %v", i, seq, got.Seq, err)
		}
	}
}
