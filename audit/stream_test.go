package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"golang.org/x/mod/sumdb/note"
)

// TestTreeFromAFollowerMatchesTheStreamsStoredBytes builds the tree the way
// the projector will (Follow, one SQLite transaction per batch) from a real
// JetStream stream, then verifies it against the stream read message by
// message with direct gets: the bytes a follower hashes are the bytes the
// stream stores, atomic batches included.
func TestTreeFromAFollowerMatchesTheStreamsStoredBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	es := events.NewStore(js)
	if err := es.Open(ctx); err != nil {
		t.Fatal(err)
	}
	last := map[string]uint64{}
	for i := range 120 {
		owner := fmt.Sprintf("01HOWNER%018d", i%3)
		var batch []events.Event
		for k := range 1 + i%3 { // atomic batches of 1 to 3 events
			batch = append(batch, &events.KeyRevoked{Meta: events.Meta{At: time.Now().UTC(), Actor: "admin"},
				KeyID: fmt.Sprintf("01HKEY%020d", i*3+k), Owner: owner, Reason: fmt.Sprintf("ünïcødé *> reason %d", i)})
		}
		seq, err := es.Append(ctx, events.OwnerSubjects(owner), last[owner], "", batch)
		if err != nil {
			t.Fatal(err)
		}
		last[owner] = seq
	}
	n, err := es.LastSeq(ctx)
	if err != nil || n != 240 {
		t.Fatalf("stream holds %d events (%v), want 240", n, err)
	}

	db := MustOpenDB(t)
	followCtx, stop := context.WithCancel(ctx)
	err = es.Follow(followCtx, 1, func(recs []events.Recorded) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		evs := make([]audit.Event, len(recs))
		for i, r := range recs {
			evs[i] = audit.Event{Seq: r.Seq, Data: r.Data}
		}
		if _, err := audit.Append(ctx, tx, evs...); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if recs[len(recs)-1].Seq == n {
			stop()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("follow: %v", err)
	}

	store := audit.NewHashStore(db)
	signer, v, _ := newKey(t, testOrigin)
	cps := [][]byte{signedAt(t, store, 100, signer), signedAt(t, store, int64(n), signer)}
	st, err := js.Stream(ctx, es.Stream)
	if err != nil {
		t.Fatal(err)
	}
	direct := func(yield func(audit.Event, error) bool) {
		for seq := uint64(1); seq <= n; seq++ {
			msg, err := st.GetMsg(ctx, seq)
			if err != nil {
				yield(audit.Event{}, err)
				return
			}
			if !yield(audit.Event{Seq: msg.Sequence, Data: msg.Data}, nil) {
				return
			}
		}
	}
	rep, err := audit.VerifyLog(ctx, direct, cps, note.VerifierList(v), store)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != int64(n) || rep.StoredSize != int64(n) {
		t.Fatalf("verified %d events, %d stored, want %d", rep.Size, rep.StoredSize, n)
	}
}
