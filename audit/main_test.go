package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/audit"
	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "keyledger/TESTSTREAM"

// MustOpenDB opens a migrated SQLite file in a temporary directory, with the
// pragmas projections.DB uses.
func MustOpenDB(tb testing.TB) *sql.DB {
	tb.Helper()
	return mustOpenDBAt(tb, filepath.Join(tb.TempDir(), "ledger.db"))
}

func mustOpenDBAt(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := audit.Migrate(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	return db
}

// testEvents returns n events whose bytes look like stored events, with
// hostile content mixed in: wildcards, dots, spaces, non-ASCII, empty and
// large payloads.
func testEvents(n int) []audit.Event {
	evs := make([]audit.Event, n)
	for i := range evs {
		seq := uint64(i + 1)
		var data []byte
		switch i % 7 {
		case 3:
			data = []byte(fmt.Sprintf(`{"type":"key.renamed","key_id":"01HZ%06d","name":"a.b *>  ünïcødé 🔑 %d"}`, i, i))
		case 5:
			data = nil // an empty payload is still a leaf
		case 6:
			data = []byte(strings.Repeat("x", i%1000))
		default:
			data = []byte(fmt.Sprintf(`{"type":"key.issued","v":1,"key_id":"01HZ%06d","owner":"01HY%06d","at":"2026-11-23T12:00:00.000Z"}`, i, i/10))
		}
		evs[i] = audit.Event{Seq: seq, Data: data}
	}
	return evs
}

// appendAll appends events to the stored tree in transactions of batch events.
func appendAll(tb testing.TB, db *sql.DB, events []audit.Event, batch int) []tlog.Hash {
	tb.Helper()
	ctx := context.Background()
	var leaves []tlog.Hash
	for len(events) > 0 {
		chunk := events[:min(batch, len(events))]
		events = events[len(chunk):]
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		hs, err := audit.Append(ctx, tx, chunk...)
		if err != nil {
			tx.Rollback()
			tb.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
		leaves = append(leaves, hs...)
	}
	return leaves
}

// stream yields events as a stream reader would.
func stream(events []audit.Event) iter.Seq2[audit.Event, error] {
	return func(yield func(audit.Event, error) bool) {
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// newKey returns a fresh signer and its verifier for name.
func newKey(tb testing.TB, name string) (note.Signer, note.Verifier, string) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, v, vkey
}

// signedAt signs the stored tree's checkpoint at size.
func signedAt(tb testing.TB, store *audit.HashStore, size int64, signers ...note.Signer) []byte {
	tb.Helper()
	root, err := store.TreeHead(context.Background(), size)
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := audit.SignCheckpoint(audit.Checkpoint{Origin: testOrigin, Size: size, Root: root}, signers...)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}
