package audit_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
)

// TestLedgerDBWithoutTheTreeIsRebuiltFromZero: a ledger.db projected without
// the audit applier, or whose tlog_hashes were emptied, is dropped at open
// and rebuilt from the stream, so every event gets its leaf and row.
func TestLedgerDBWithoutTheTreeIsRebuiltFromZero(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.stop()
	last, err := l.store.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		inconsistent bool // kept aside as evidence, not just dropped
		setup        func(t *testing.T) string
	}{
		{"projected without audit", false, func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "ledger.db")
			db := projections.NewDB(path)
			if err := db.Open(); err != nil {
				t.Fatal(err)
			}
			projectAll(t, db, l.store, last)
			db.Close()
			return path
		}},
		{"tlog_hashes emptied", true, func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "ledger.db")
			db := projections.NewDB(path)
			db.Use("ledger", audit.NewApplier())
			if err := db.Open(); err != nil {
				t.Fatal(err)
			}
			projectAll(t, db, l.store, last)
			if _, err := db.SQL().Exec(`DELETE FROM tlog_hashes`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			return path
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.setup(t)
			db := projections.NewDB(path)
			db.Use("ledger", audit.NewApplier())
			if err := db.Open(); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if pos, _ := db.LastSeq(context.Background()); !db.Rebuilt || pos != 0 {
				t.Fatalf("reopened with audit: rebuilt %v at position %d, want a rebuild from 0", db.Rebuilt, pos)
			}
			if got := db.Inconsistent != nil; got != c.inconsistent {
				t.Fatalf("inconsistent %v (%v), want %v", got, db.Inconsistent, c.inconsistent)
			}
			if c.inconsistent {
				// The altered file is evidence: kept, with its rows.
				old, err := sql.Open("sqlite3", "file:"+db.KeptAside+"?mode=ro")
				if err != nil {
					t.Fatal(err)
				}
				defer old.Close()
				var rows int
				if err := old.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&rows); err != nil || rows != int(last) {
					t.Fatalf("kept aside at %q: %d audit rows (%v), want %d", db.KeptAside, rows, err, last)
				}
			}
			projectAll(t, db, l.store, last)
			size, err := audit.NewHashStore(db.SQL()).Size(context.Background())
			if err != nil || size != int64(last) {
				t.Fatalf("tree of %d leaves (%v), stream of %d", size, err, last)
			}
		})
	}
}

func projectAll(t *testing.T, db *projections.DB, store *events.Store, last uint64) {
	t.Helper()
	p := projections.NewProjector(db, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	err := p.WaitFor(ctx, last)
	cancel()
	if perr := <-done; perr != nil || err != nil {
		t.Fatalf("project: %v %v", err, perr)
	}
}

// TestOneCheckpointPerIntervalAcrossInstances: two checkpointers on one log
// (as two instances would be) append exactly one checkpoint between them.
func TestOneCheckpointPerIntervalAcrossInstances(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.caughtUp(t)
	other := &audit.Checkpointer{DB: l.db.SQL(), Store: l.store, Signer: l.signer, Every: 1}
	ctx := context.Background()
	first, err := l.cp.Once(ctx)
	if err != nil || !first {
		t.Fatalf("first checkpointer: %v %v", first, err)
	}
	second, err := other.Once(ctx) // has not projected the first's checkpoint, or sees it
	if err != nil || second {
		t.Fatalf("second checkpointer appended too: %v %v", second, err)
	}
	l.caughtUp(t)
	if again, err := other.Once(ctx); err != nil || again {
		t.Fatalf("a checkpoint of a tree that only grew by a checkpoint: %v %v", again, err)
	}
	recs, _, err := l.store.Load(ctx, events.SubjectCheckpoint)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d checkpoints stored (%v), want 1", len(recs), err)
	}
}

// TestSourceAndActorKeyAreRecorded: what a transport puts in the context
// reaches the events and the audit rows, control characters replaced.
func TestSourceAndActorKeyAreRecorded(t *testing.T) {
	l := startLedger(t)
	ctx := commands.WithSource(context.Background(), "http 10.1.2.3:4567\x1b[31m")
	var ep commands.Endpoint
	for _, e := range commands.Endpoints() {
		if e.Name == "cmd.user.register" {
			ep = e
		}
	}
	tok := l.adminToken(t)
	if _, err := l.svc.Call(ctx, ep, "Bearer "+tok, "", []byte(`{"name":"bob","kind":"person","roles":["developer"]}`)); err != nil {
		t.Fatal(err)
	}
	l.caughtUp(t)
	trail := &audit.Trail{DB: l.db.SQL()}
	page, err := trail.List(context.Background(), keyledgerFilterAction("user.registered"))
	if err != nil || len(page.Entries) == 0 {
		t.Fatal(page, err)
	}
	e := page.Entries[0]
	if e.Source != "http 10.1.2.3:4567?[31m" || e.ActorKey != l.admin.KeyID || e.Actor != l.admin.UserID {
		t.Fatalf("entry: source %q actor %q key %q", e.Source, e.Actor, e.ActorKey)
	}
	for _, roles := range [][]string{{"auditor"}, {"developer", "auditor"}} {
		if _, err := l.svc.ChangeRoles(context.Background(), l.admin, "", commands.ChangeRoles{UserID: e.Owner, Roles: roles}); err != nil {
			t.Fatal(err)
		}
	}
	l.caughtUp(t)
	page, err = trail.List(context.Background(), keyledgerFilterAction("user.roles_changed"))
	if err != nil || len(page.Entries) != 2 {
		t.Fatal(page, err)
	}
	if d := string(page.Entries[0].Detail); d != `{"before":["auditor"],"after":["auditor","developer"]}` {
		t.Errorf("second roles change: %s", d)
	}
	if d := string(page.Entries[1].Detail); d != `{"before":["developer"],"after":["auditor"]}` {
		t.Errorf("first roles change: %s", d)
	}
}

// TestSkippedEventKeepsItsLeaf: junk in the stream halts the projections;
// once an admin's skip is stored they go on, and the junk still has its leaf
// and row, so the trail verifies and the tree matches the stream.
func TestSkippedEventKeepsItsLeaf(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	ctx := context.Background()
	junk, err := l.store.JS.Publish(ctx, "keyledger.events.user.01HJUNK00000000000000000000._.registered", []byte(`{"type":"NoSuchEvent","v":1} ünï *>`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for seq, _ := l.proj.Halted(); seq != junk.Sequence; seq, _ = l.proj.Halted() {
		if time.Now().After(deadline) {
			t.Fatalf("projection not halted at the junk (seq %d)", junk.Sequence)
		}
		time.Sleep(20 * time.Millisecond)
	}
	skip := &events.EventSkipped{Meta: events.Meta{At: time.Now().UTC(), Actor: l.admin.UserID}, Seq: junk.Sequence, Reason: "junk"}
	if _, err := l.store.Append(ctx, events.Subject(skip), 0, "", []events.Event{skip}); err != nil {
		t.Fatal(err)
	}
	for seq, _ := l.proj.Halted(); seq != 0; seq, _ = l.proj.Halted() {
		if time.Now().After(deadline) {
			t.Fatal("projection still halted after the skip")
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.story(t)
	l.checkpoint(t)
	l.stop()
	rep, err := l.verify(t)
	if err != nil {
		t.Fatalf("verify after a skip: %v", err)
	}
	last, _ := l.store.LastSeq(ctx)
	if rep.Size != int64(last) || rep.Rows != last {
		t.Fatalf("tree %d, rows %d, stream %d", rep.Size, rep.Rows, last)
	}
	page, err := (&audit.Trail{DB: l.db.SQL()}).List(ctx, keyledgerFilterAction("ops.undecodable"))
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Seq != junk.Sequence {
		t.Fatalf("the junk's row: %+v %v", page, err)
	}
}
