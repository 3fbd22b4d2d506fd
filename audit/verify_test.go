package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"iter"
	"testing"

	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// logFixture is an intact log: 1000 events, their stored tree, and
// checkpoints at 0, 1, 100, 400, 500, 777 and 1000 signed by two instances.
type logFixture struct {
	events      []audit.Event
	store       *audit.HashStore
	checkpoints [][]byte
	known       note.Verifiers
	verifiers   []note.Verifier
	signer      note.Signer
	leaves      []tlog.Hash
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	db := MustOpenDB(t)
	f := &logFixture{events: testEvents(1000), store: audit.NewHashStore(db)}
	f.leaves = appendAll(t, db, f.events, 64)
	s1, v1, _ := newKey(t, testOrigin)
	s2, v2, _ := newKey(t, testOrigin)
	f.signer, f.verifiers = s1, []note.Verifier{v1, v2}
	f.known = note.VerifierList(f.verifiers...)
	for _, size := range []int64{1000, 0, 1, 100, 400, 500, 777} { // any order
		f.checkpoints = append(f.checkpoints, signedAt(t, f.store, size, s1, s2))
	}
	return f
}

// clone returns a copy of the events whose Data can be changed freely.
func (f *logFixture) clone() []audit.Event {
	evs := make([]audit.Event, len(f.events))
	for i, ev := range f.events {
		evs[i] = audit.Event{Seq: ev.Seq, Data: bytes.Clone(ev.Data)}
	}
	return evs
}

func TestVerifyLogPassesAnIntactLog(t *testing.T) {
	f := newLogFixture(t)
	rep, err := audit.VerifyLog(context.Background(), stream(f.events), f.checkpoints, f.known, f.store)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.store.TreeHead(context.Background(), 1000)
	if rep.Size != 1000 || rep.Root != want || rep.Checkpoints != 7 || rep.StoredSize != 1000 {
		t.Fatalf("report %+v, want 1000 events, 7 checkpoints, 1000 stored, root %v", rep, want)
	}
	// A stored tree trailing the stream (the projector catching up) is fine.
	short := MustOpenDB(t)
	appendAll(t, short, f.events[:600], 600)
	if _, err := audit.VerifyLog(context.Background(), stream(f.events), f.checkpoints, f.known, audit.NewHashStore(short)); err != nil {
		t.Fatalf("a trailing stored tree: %v", err)
	}
}

func TestVerifyLogNamesTheFirstTamperedSeq(t *testing.T) {
	f := newLogFixture(t)
	ctx := context.Background()
	other, _, _ := newKey(t, testOrigin)
	witness, _, _ := newKey(t, "witness.example")

	// A stored tree rebuilt from a tampered stream: the attacker rewrote
	// SQLite too, so only the signed checkpoints still tell.
	rebuilt := func(evs []audit.Event) *audit.HashStore {
		db := MustOpenDB(t)
		appendAll(t, db, evs, 500)
		return audit.NewHashStore(db)
	}
	sign := func(c audit.Checkpoint, s ...note.Signer) []byte {
		msg, err := audit.SignCheckpoint(c, s...)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	root500, _ := f.store.TreeHead(ctx, 500)
	forged := bytes.Clone(f.checkpoints[5]) // the checkpoint at 500
	forged = bytes.Replace(forged, []byte("\n500\n"), []byte("\n501\n"), 1)

	type input struct {
		events      iter.Seq2[audit.Event, error]
		checkpoints [][]byte
		stored      audit.StoredTree
		known       note.Verifiers
	}
	for _, tc := range []struct {
		name    string
		in      func() input
		what    audit.Divergence
		seq     uint64
		through uint64
	}{
		{"altered_bytes_named_by_the_stored_leaf", func() input {
			evs := f.clone()
			evs[436].Data[0] ^= 1
			return input{stream(evs), f.checkpoints, f.store, nil}
		}, audit.StoredHash, 437, 0},
		{"altered_bytes_named_by_checkpoints_alone", func() input {
			evs := f.clone()
			evs[436].Data = append(evs[436].Data, '!')
			return input{stream(evs), f.checkpoints, nil, nil}
		}, audit.CheckpointRoot, 401, 500},
		{"altered_bytes_with_rebuilt_stored_tree", func() input {
			evs := f.clone()
			evs[436].Data = []byte(`{"type":"key.issued","forged":true}`)
			return input{stream(evs), f.checkpoints, rebuilt(evs), nil}
		}, audit.CheckpointRoot, 401, 500},
		{"deleted_event_leaves_a_gap", func() input {
			evs := append(f.clone()[:249], f.clone()[250:]...)
			return input{stream(evs), f.checkpoints, f.store, nil}
		}, audit.EventMissing, 250, 0},
		{"deleted_event_renumbered", func() input {
			evs := f.clone()
			for i := 249; i < len(evs)-1; i++ {
				evs[i].Data = evs[i+1].Data
			}
			return input{stream(evs[:len(evs)-1]), f.checkpoints, f.store, nil}
		}, audit.StoredHash, 250, 0},
		{"deleted_tail_under_a_checkpoint", func() input {
			return input{stream(f.events[:990]), f.checkpoints, nil, nil}
		}, audit.EventMissing, 991, 1000},
		{"deleted_tail_still_in_stored_tree", func() input {
			return input{stream(f.events[:990]), nil, f.store, nil}
		}, audit.StoredExtra, 991, 1000},
		{"reordered_bytes", func() input {
			evs := f.clone()
			evs[299].Data, evs[300].Data = evs[300].Data, evs[299].Data
			return input{stream(evs), f.checkpoints, f.store, nil}
		}, audit.StoredHash, 300, 0},
		{"reordered_bytes_with_rebuilt_stored_tree", func() input {
			evs := f.clone()
			evs[299].Data, evs[300].Data = evs[300].Data, evs[299].Data
			return input{stream(evs), f.checkpoints, rebuilt(evs), nil}
		}, audit.CheckpointRoot, 101, 400},
		{"reordered_delivery", func() input {
			evs := f.clone()
			evs[299], evs[300] = evs[300], evs[299]
			return input{stream(evs), f.checkpoints, f.store, nil}
		}, audit.EventMissing, 300, 0},
		{"duplicated_delivery", func() input {
			evs := f.clone()
			evs = append(evs[:300], append([]audit.Event{evs[299]}, evs[300:]...)...)
			return input{stream(evs), f.checkpoints, f.store, nil}
		}, audit.EventOrder, 300, 0},
		{"forged_checkpoint_signature", func() input {
			return input{stream(f.events), [][]byte{f.checkpoints[4], forged}, f.store, nil}
		}, audit.CheckpointSignature, 501, 0},
		{"checkpoint_signed_by_an_unknown_key", func() input {
			return input{stream(f.events), [][]byte{sign(audit.Checkpoint{Origin: testOrigin, Size: 500, Root: root500}, other)}, f.store, nil}
		}, audit.CheckpointSignature, 500, 0},
		{"checkpoint_signed_by_a_witness_only", func() input {
			cp, err := note.Sign(&note.Note{Text: string(audit.Checkpoint{Origin: testOrigin, Size: 500, Root: root500}.Text())}, witness)
			if err != nil {
				t.Fatal(err)
			}
			return input{stream(f.events), [][]byte{cp}, f.store, nil}
		}, audit.CheckpointSignature, 500, 0},
		{"checkpoint_with_wrong_size", func() input {
			cp := sign(audit.Checkpoint{Origin: testOrigin, Size: 600, Root: root500}, f.signer)
			return input{stream(f.events), append(f.checkpoints, cp), f.store, nil}
		}, audit.CheckpointRoot, 501, 600},
		{"checkpoint_with_wrong_root", func() input {
			cp := sign(audit.Checkpoint{Origin: testOrigin, Size: 250, Root: root500}, f.signer)
			return input{stream(f.events), append(f.checkpoints, cp), nil, nil}
		}, audit.CheckpointRoot, 101, 250},
		{"checkpoint_beyond_the_stream", func() input {
			cp := sign(audit.Checkpoint{Origin: testOrigin, Size: 2000, Root: root500}, f.signer)
			return input{stream(f.events), append(f.checkpoints, cp), f.store, nil}
		}, audit.EventMissing, 1001, 2000},
		{"checkpoint_of_another_log", func() input {
			s, v, _ := newKey(t, "keyledger/OTHER")
			cp := sign(audit.Checkpoint{Origin: "keyledger/OTHER", Size: 500, Root: root500}, s)
			return input{stream(f.events), append(f.checkpoints, cp), f.store, note.VerifierList(append(f.verifiers, v)...)}
		}, audit.CheckpointOrigin, 500, 0},
		{"stored_leaf_altered", func() input {
			db := MustOpenDB(t)
			appendAll(t, db, f.events, 1000)
			mustExec(t, db, `UPDATE tlog_hashes SET hash = zeroblob(32) WHERE idx = ?`, tlog.StoredHashIndex(0, 700))
			return input{stream(f.events), f.checkpoints, audit.NewHashStore(db), nil}
		}, audit.StoredHash, 701, 0},
		{"stored_interior_hash_altered", func() input {
			db := MustOpenDB(t)
			appendAll(t, db, f.events, 1000)
			mustExec(t, db, `UPDATE tlog_hashes SET hash = zeroblob(32) WHERE idx = ?`, tlog.StoredHashIndex(3, 10))
			return input{stream(f.events), f.checkpoints, audit.NewHashStore(db), nil}
		}, audit.StoredHash, 81, 88},
		{"stored_hash_deleted", func() input {
			db := MustOpenDB(t)
			appendAll(t, db, f.events, 1000)
			mustExec(t, db, `DELETE FROM tlog_hashes WHERE idx = ?`, tlog.StoredHashIndex(0, 99))
			return input{stream(f.events), f.checkpoints, audit.NewHashStore(db), nil}
		}, audit.StoredHash, 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in()
			if in.known == nil {
				in.known = f.known
			}
			_, err := audit.VerifyLog(ctx, in.events, in.checkpoints, in.known, in.stored)
			var d *audit.DivergenceError
			if !errors.As(err, &d) {
				t.Fatalf("VerifyLog = %v, want a *DivergenceError", err)
			}
			if !errors.Is(err, audit.ErrDiverged) {
				t.Fatal("the error does not match ErrDiverged")
			}
			if d.What != tc.what || d.Seq != tc.seq || d.Through != tc.through {
				t.Fatalf("got %s at %d..%d (%v), want %s at %d..%d", d.What, d.Seq, d.Through, err, tc.what, tc.seq, tc.through)
			}
		})
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyLogReportsAStreamErrorAsSuch(t *testing.T) {
	boom := errors.New("nats: connection closed")
	events := func(yield func(audit.Event, error) bool) {
		if yield(audit.Event{Seq: 1, Data: []byte("a")}, nil) {
			yield(audit.Event{}, boom)
		}
	}
	_, err := audit.VerifyLog(context.Background(), events, nil, nil, nil)
	if !errors.Is(err, boom) || errors.Is(err, audit.ErrDiverged) {
		t.Fatalf("VerifyLog = %v, want the stream's error and no divergence", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = audit.VerifyLog(ctx, stream(testEvents(5000)), nil, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyLog on a cancelled context = %v", err)
	}
}
