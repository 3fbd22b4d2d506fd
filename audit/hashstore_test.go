package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// rfc6962Root is an independent RFC 6962 Merkle Tree Hash over the
// documented leaf encoding, written from the RFC and the package doc only:
// what a third party holding the stream would compute.
func rfc6962Root(events []audit.Event) [32]byte {
	if len(events) == 0 {
		return sha256.Sum256(nil)
	}
	if len(events) == 1 {
		b := []byte{0}
		b = binary.BigEndian.AppendUint64(b, events[0].Seq)
		return sha256.Sum256(append(b, events[0].Data...))
	}
	k := 1
	for k*2 < len(events) {
		k *= 2
	}
	l, r := rfc6962Root(events[:k]), rfc6962Root(events[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func TestThirdPartyRebuildsTheRootFromTheStreamAlone(t *testing.T) {
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	evs := testEvents(70)
	appendAll(t, db, evs, 9)
	for size := 0; size <= len(evs); size++ {
		got, err := store.TreeHead(context.Background(), int64(size))
		if err != nil {
			t.Fatal(err)
		}
		if want := rfc6962Root(evs[:size]); got != tlog.Hash(want) {
			t.Fatalf("root at size %d is %v, a third party computes %v", size, got, tlog.Hash(want))
		}
	}
}

func TestLeafHashIsSHA256OfZeroSeqAndBytes(t *testing.T) {
	data := []byte(`{"type":"key.revoked"}`)
	b := []byte{0, 0, 0, 0, 0, 0, 0, 0x01, 0x02}
	want := sha256.Sum256(append(b, data...))
	if got := audit.LeafHash(0x0102, data); got != tlog.Hash(want) {
		t.Fatalf("LeafHash = %v, want SHA-256(0x00||uint64be(seq)||data) = %v", got, tlog.Hash(want))
	}
	if audit.LeafHash(1, data) == audit.LeafHash(2, data) {
		t.Fatal("the same bytes at two sequences share a leaf hash")
	}
}

func TestAppendIsPartOfTheCallersTransaction(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	evs := testEvents(10)
	appendAll(t, db, evs[:4], 4)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Append(ctx, tx, evs[4:]...); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if n, err := store.Size(ctx); err != nil || n != 4 {
		t.Fatalf("after rollback the tree has %d leaves (%v), want 4", n, err)
	}
	appendAll(t, db, evs[4:], 100)
	if n, err := store.Size(ctx); err != nil || n != 10 {
		t.Fatalf("after commit the tree has %d leaves (%v), want 10", n, err)
	}
}

func TestAppendRefusesAGapAndChecksRedeliveries(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	evs := testEvents(5)
	leaves := appendAll(t, db, evs[:3], 10)

	try := func(events ...audit.Event) ([]tlog.Hash, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		hs, err := audit.Append(ctx, tx, events...)
		if err == nil {
			err = tx.Commit()
		}
		return hs, err
	}
	if _, err := try(evs[4]); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("appending seq 5 to a tree of 3: %v, want invalid", err)
	}
	if _, err := try(audit.Event{Seq: 0, Data: []byte("x")}); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("appending seq 0: %v, want invalid", err)
	}
	// A redelivered prefix is accepted and returns the stored leaf hashes.
	hs, err := try(evs[1], evs[2], evs[3])
	if err != nil {
		t.Fatalf("redelivery of 2..3 then 4: %v", err)
	}
	if hs[0] != leaves[1] || hs[1] != leaves[2] || hs[2] != audit.LeafHash(4, evs[3].Data) {
		t.Fatal("redelivery returned other leaf hashes than the stored ones")
	}
	// A redelivery with other bytes is a divergence at its seq.
	_, err = try(audit.Event{Seq: 2, Data: []byte("altered")})
	var d *audit.DivergenceError
	if !errors.As(err, &d) || d.Seq != 2 || d.What != audit.StoredHash {
		t.Fatalf("altered redelivery of seq 2: %v, want a stored_hash divergence at 2", err)
	}
	if n, _ := audit.NewHashStore(db).Size(ctx); n != 4 {
		t.Fatalf("tree has %d leaves, want 4", n)
	}
}

func TestSizeAndRootsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/ledger.db"
	db := mustOpenDBAt(t, path)
	evs := testEvents(33)
	appendAll(t, db, evs, 5)
	want, err := audit.NewHashStore(db).TreeHead(ctx, 33)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpenDBAt(t, path) // Migrate again on an up-to-date file
	store := audit.NewHashStore(db)
	if n, err := store.Size(ctx); err != nil || n != 33 {
		t.Fatalf("reopened tree has %d leaves (%v), want 33", n, err)
	}
	if got, _ := store.TreeHead(ctx, 33); got != want {
		t.Fatal("reopened tree has another root")
	}
	if _, err := store.TreeHead(ctx, 34); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("tree head beyond the tree: %v, want invalid", err)
	}
}

func TestMigrateRefusesANewerAuditSchema(t *testing.T) {
	db := MustOpenDB(t)
	if _, err := db.Exec(`INSERT INTO audit_migrations (version, name, applied_at) VALUES (99, 'future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := audit.Migrate(context.Background(), db); err == nil {
		t.Fatal("Migrate accepted an audit schema newer than this build")
	}
}
