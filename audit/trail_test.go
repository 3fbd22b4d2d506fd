package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ledger is one instance with the audit applier: service, projector,
// checkpointer and the verifier key.
type ledger struct {
	svc     *commands.Service
	store   *events.Store
	db      *projections.DB
	proj    *projections.Projector
	cp      *audit.Checkpointer
	admin   commands.Actor
	signer  note.Signer
	vkey    string
	stop    func()
	dataDir string
	token   string
}

func (l *ledger) adminToken(*testing.T) string { return l.token }

func keyledgerFilterAction(action string) keyledger.AuditFilter {
	return keyledger.AuditFilter{Action: action}
}

func startLedger(t *testing.T) *ledger {
	t.Helper()
	ctx := context.Background()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	l := &ledger{store: events.NewStore(js), dataDir: t.TempDir()}
	if err := l.store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	l.db = projections.NewDB(filepath.Join(l.dataDir, "ledger.db"))
	l.db.Use("ledger", audit.NewApplier())
	if err := l.db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.db.Close() })
	l.proj = projections.NewProjector(l.db, l.store)
	l.svc = commands.NewService(l.store, l.db, l.proj)
	l.svc.Trail = &audit.Trail{DB: l.db.SQL(), Events: l.store}
	l.proj.AfterCommit = l.svc.Observe
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.proj.Run(pctx) }()
	l.stop = sync1(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projector: %v", err)
		}
	})
	t.Cleanup(l.stop)
	var err error
	if l.signer, l.vkey, err = audit.LoadOrCreateKey(filepath.Join(l.dataDir, "audit.key"), audit.Origin); err != nil {
		t.Fatal(err)
	}
	l.cp = &audit.Checkpointer{DB: l.db.SQL(), Store: l.store, Signer: l.signer, Every: 1}
	if _, err := l.svc.Bootstrap(ctx, func(tok string) error { l.token = tok; return nil }); err != nil {
		t.Fatal(err)
	}
	if l.admin, err = l.svc.Authenticate(ctx, "Bearer "+l.token); err != nil {
		t.Fatal(err)
	}
	l.admin.Source = "test"
	enabled := true
	if _, err := l.svc.SetSettings(ctx, l.admin, "", commands.SetSettings{Enabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	return l
}

func sync1(f func()) func() {
	var done bool
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// caughtUp waits until the projection holds the whole stream.
func (l *ledger) caughtUp(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, err := l.store.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.proj.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
}

// checkpoint appends a checkpoint now and waits until it is projected.
func (l *ledger) checkpoint(t *testing.T) {
	t.Helper()
	l.caughtUp(t)
	if ok, err := l.cp.Once(context.Background()); err != nil || !ok {
		t.Fatalf("checkpoint: %v %v", ok, err)
	}
	l.caughtUp(t)
}

// story issues a key, renames it and revokes it; it returns the key ID.
func (l *ledger) story(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	issued, err := l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Name: "ci ünï *>", Scopes: []string{"deploy"}, ExpiresIn: "P30D"})
	if err != nil {
		t.Fatal(err)
	}
	id := issued.ID
	name := "renamed.key"
	if _, err := l.svc.UpdateKey(ctx, l.admin, "", commands.UpdateKey{KeyID: id, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.RevokeKeys(ctx, l.admin, "", commands.RevokeKeys{KeyIDs: []string{id}, Reason: "leaked in a log"}); err != nil {
		t.Fatal(err)
	}
	l.caughtUp(t)
	return id
}

func (l *ledger) verify(t *testing.T) (*audit.TrailReport, error) {
	t.Helper()
	known, err := note.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return audit.VerifyTrail(ctx, audit.ReadStream(l.store), note.VerifierList(known), l.db.SQL())
}

func TestAuditRowsTellAKeysStory(t *testing.T) {
	l := startLedger(t)
	id := l.story(t)
	ctx := context.Background()
	trace, err := l.svc.AuditTrace(ctx, l.admin, commands.TraceQuery{KeyID: id})
	if err != nil {
		t.Fatal(err)
	}
	if trace.KeyID != id || trace.Owner == "" || len(trace.Usage) != 0 {
		t.Errorf("trace of %s: key %s owner %q usage %v", id, trace.KeyID, trace.Owner, trace.Usage)
	}
	var actions []string
	for _, e := range trace.Entries {
		actions = append(actions, e.Action)
		if e.Actor != l.admin.UserID || e.ActorKey != l.admin.KeyID || e.Source != "test" || e.LeafHash == "" || e.KeyID != id {
			t.Errorf("entry %d: actor %q key %q source %q leaf %q key_id %q", e.Seq, e.Actor, e.ActorKey, e.Source, e.LeafHash, e.KeyID)
		}
	}
	if strings.Join(actions, ",") != "key.issued,key.renamed,key.revoked" {
		t.Fatalf("trace actions %v", actions)
	}
	if got := string(trace.Entries[1].Detail); got != `{"before":{"name":"ci ünï *\u003e","description":""},"after":{"name":"renamed.key","description":""}}` {
		t.Errorf("rename detail %s", got)
	}
	if got := string(trace.Entries[2].Detail); got != `{"reason":"leaked in a log"}` {
		t.Errorf("revoke detail %s", got)
	}
	if !strings.Contains(string(trace.Entries[0].Detail), `"scopes":["deploy"]`) || !strings.Contains(string(trace.Entries[0].Detail), `"expires_at"`) {
		t.Errorf("issue detail lacks the policy: %s", trace.Entries[0].Detail)
	}
	settings, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{Action: "settings.changed"})
	if err != nil || len(settings.Entries) != 1 {
		t.Fatalf("settings entries: %v %v", settings, err)
	}
	if d := string(settings.Entries[0].Detail); !strings.Contains(d, `"before":{`) || !strings.Contains(d, `"after":{`) {
		t.Errorf("settings detail has no before and after: %s", d)
	}
}

func TestAuditListFiltersAndPages(t *testing.T) {
	l := startLedger(t)
	ctx := context.Background()
	var ids []string
	for range 7 {
		ids = append(ids, l.story(t))
	}
	all, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := l.store.LastSeq(ctx)
	if len(all.Entries) != int(last) || all.Entries[0].Seq != last {
		t.Fatalf("list of everything: %d entries from seq %d, stream has %d", len(all.Entries), all.Entries[0].Seq, last)
	}
	var seen []uint64
	f := keyledger.AuditFilter{Action: "key.revoked", Limit: 3}
	for {
		page, err := l.svc.AuditList(ctx, l.admin, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Action != "key.revoked" {
				t.Fatalf("action filter let %s through", e.Action)
			}
			seen = append(seen, e.Seq)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d revocations, want 7: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("pages not newest first: %v", seen)
		}
	}
	byKey, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{KeyID: ids[3]})
	if err != nil || len(byKey.Entries) != 3 {
		t.Fatalf("by key: %+v %v", byKey, err)
	}
	future := time.Now().Add(time.Hour)
	none, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{Since: &future})
	if err != nil || len(none.Entries) != 0 {
		t.Fatalf("since the future: %+v %v", none, err)
	}
	byActor, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{Actor: "system"})
	if err != nil || len(byActor.Entries) == 0 || byActor.Entries[len(byActor.Entries)-1].Action != "user.registered" {
		t.Fatalf("system's entries: %+v %v", byActor, err)
	}
	for _, bad := range []keyledger.AuditFilter{{KeyID: "*"}, {KeyID: "a.b"}, {Action: ">"}, {Cursor: "x"}, {Limit: -1}, {Limit: 5000}, {Since: &future, Until: &future}} {
		if _, err := l.svc.AuditList(ctx, l.admin, bad); keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("filter %+v: %v, want invalid", bad, err)
		}
	}
	dev := commands.Actor{UserID: l.admin.UserID, Roles: []string{keyledger.RoleDeveloper}}
	if _, err := l.svc.AuditList(ctx, dev, keyledger.AuditFilter{}); keyledger.ErrorCode(err) != keyledger.EForbidden {
		t.Errorf("a developer read the audit trail: %v", err)
	}
}

func TestReceiptOfARevocationChecksOfflineAndFailsAltered(t *testing.T) {
	l := startLedger(t)
	id := l.story(t)
	ctx := context.Background()
	if _, err := l.svc.AuditProve(ctx, l.admin, commands.ProveQuery{KeyID: id}); keyledger.ErrorCode(err) != keyledger.EUnavailable {
		t.Fatalf("a receipt before any checkpoint: %v, want unavailable", err)
	}
	l.checkpoint(t)
	rc, err := l.svc.AuditProve(ctx, l.admin, commands.ProveQuery{KeyID: id})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(rc)
	r, err := audit.ParseReceipt(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.CheckReceipt(r, l.vkey); err != nil {
		t.Fatalf("a fresh receipt does not check: %v", err)
	}
	ev, err := events.Decode(r.Event)
	if err != nil {
		t.Fatal(err)
	}
	if rv, ok := ev.(*events.KeyRevoked); !ok || rv.KeyID != id {
		t.Fatalf("the receipt proves %T, not the revocation of %s", ev, id)
	}
	altered := strings.Replace(string(body), `"seq":`, `"seq":1`, 1)
	if r2, err := audit.ParseReceipt([]byte(altered)); err == nil {
		if _, err := audit.CheckReceipt(r2, l.vkey); err == nil {
			t.Fatal("a receipt with an altered seq checks")
		}
	}
	r.Event = []byte(strings.Replace(string(r.Event), "leaked", "lEaked", 1))
	if _, err := audit.CheckReceipt(r, l.vkey); err == nil {
		t.Fatal("a receipt with an altered reason checks")
	}
	if _, err := l.svc.AuditProve(ctx, l.admin, commands.ProveQuery{Seq: 1, KeyID: id}); keyledger.ErrorCode(err) != keyledger.EInvalid {
		t.Errorf("seq and key_id together: %v", err)
	}
}

// divergence runs verify and returns the divergence it names.
func (l *ledger) divergence(t *testing.T) *audit.DivergenceError {
	t.Helper()
	_, err := l.verify(t)
	var d *audit.DivergenceError
	if !errors.As(err, &d) {
		t.Fatalf("verify: %v, want a divergence", err)
	}
	return d
}

func TestVerifyNamesTheSeqOfAnAlteredRow(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	l.story(t)
	l.checkpoint(t)
	l.stop()
	rep, err := l.verify(t)
	if err != nil {
		t.Fatalf("an intact trail: %v", err)
	}
	if rep.Checkpoints != 2 || rep.Rows != uint64(rep.Size) {
		t.Fatalf("report: %d checkpoints, %d rows of %d", rep.Checkpoints, rep.Rows, rep.Size)
	}
	db := l.db.SQL()
	if _, err := db.Exec(`CREATE TABLE bk_events AS SELECT * FROM audit_events; CREATE TABLE bk_hashes AS SELECT * FROM tlog_hashes`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, do string
		seq      uint64
		what     audit.Divergence
	}{
		{"edited reason", `UPDATE audit_events SET detail = '{"reason":"routine"}' WHERE seq = 6`, 6, audit.RowContent},
		{"edited actor", `UPDATE audit_events SET actor = 'someone' WHERE seq = 4`, 4, audit.RowContent},
		{"edited leaf", `UPDATE audit_events SET leaf_hash = zeroblob(32) WHERE seq = 3`, 3, audit.RowHash},
		{"deleted row", `DELETE FROM audit_events WHERE seq = 5`, 5, audit.RowMissing},
		{"deleted last row", `DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)`, rep.Rows, audit.RowMissing},
		{"reordered rows", `UPDATE audit_events SET seq = -seq WHERE seq IN (4, 5); UPDATE audit_events SET seq = 9 + seq WHERE seq IN (-4, -5)`, 4, audit.RowHash},
		{"extra row", `INSERT INTO audit_events SELECT 100000, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash FROM audit_events WHERE seq = 2`, 100000, audit.RowExtra},
		{"stored hash", `UPDATE tlog_hashes SET hash = zeroblob(32) WHERE idx = 7`, 0, audit.StoredHash},
		// A blob equals its text when scanned into a string, but no filter
		// (key_id = '...') finds it: the row is hidden.
		{"text made a blob", `UPDATE audit_events SET key_id = CAST(key_id AS BLOB) WHERE seq = 6`, 6, audit.RowContent},
		{"actor made a blob", `UPDATE audit_events SET actor = CAST(actor AS BLOB) WHERE seq = 4`, 4, audit.RowContent},
		// The stored tree cut short: a smaller whole tree, or none.
		{"stored tree cut", `DELETE FROM tlog_hashes WHERE idx > (SELECT MAX(idx) - 3 FROM tlog_hashes)`, 0, audit.StoredHash},
		{"stored tree cut to a whole tree", fmt.Sprintf(`DELETE FROM tlog_hashes WHERE idx >= %d`, tlog.StoredHashCount(8)), 9, audit.StoredHash},
		// Two tamperings: the one at the lower seq is named, whichever check finds it.
		{"row before a stored leaf", fmt.Sprintf(`UPDATE audit_events SET actor = 'x' WHERE seq = 4; UPDATE tlog_hashes SET hash = zeroblob(32) WHERE idx = %d`,
			tlog.StoredHashIndex(0, 8)), 4, audit.RowContent},
		{"stored leaf before a row", fmt.Sprintf(`UPDATE audit_events SET actor = 'x' WHERE seq = 9; UPDATE tlog_hashes SET hash = zeroblob(32) WHERE idx = %d`,
			tlog.StoredHashIndex(0, 3)), 4, audit.StoredHash},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := db.Exec(c.do); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := db.Exec(`DELETE FROM audit_events; INSERT INTO audit_events SELECT * FROM bk_events;
					DELETE FROM tlog_hashes; INSERT INTO tlog_hashes SELECT * FROM bk_hashes`); err != nil {
					t.Fatal(err)
				}
			}()
			d := l.divergence(t)
			if d.What != c.what || (c.seq != 0 && d.Seq != c.seq) {
				t.Fatalf("divergence %v (%s at %d), want %s at %d", d, d.What, d.Seq, c.what, c.seq)
			}
		})
	}
	if _, err := l.verify(t); err != nil {
		t.Fatalf("restored trail: %v", err)
	}
}

// TestVerifyCatchesAnIndexThatHidesARow: an index rebuilt to leave a row
// out (or file it under another actor), with its declared definition put
// back in the schema, passes the row comparison, since that reads the
// table; the audit queries read the index. verify names the row.
func TestVerifyCatchesAnIndexThatHidesARow(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	l.stop()
	db := l.db.SQL()
	for _, c := range []struct{ index, def, forged string }{
		{"audit_events_key", "(key_id, at, seq)", "(key_id, at, seq) WHERE seq <> 6"},
		{"audit_events_actor", "(actor, at, seq)", "(CASE WHEN seq = 6 THEN 'someone' ELSE actor END, at, seq)"},
	} {
		t.Run(c.index, func(t *testing.T) {
			if _, err := db.Exec(fmt.Sprintf(`DROP INDEX %[1]s; CREATE INDEX %[1]s ON audit_events %[2]s;
				PRAGMA writable_schema = ON;
				UPDATE sqlite_master SET sql = 'CREATE INDEX %[1]s ON audit_events %[3]s' WHERE name = '%[1]s';
				PRAGMA writable_schema = OFF;`, c.index, c.forged, c.def)); err != nil {
				t.Fatal(err)
			}
			// As after a restart: a connection that reads the schema anew.
			fresh, err := sql.Open("sqlite3", "file:"+l.db.Path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			known, _ := note.NewVerifier(l.vkey)
			_, err = audit.VerifyTrail(context.Background(), audit.ReadStream(l.store), note.VerifierList(known), fresh)
			var d *audit.DivergenceError
			if !errors.As(err, &d) || d.What != audit.Index || !strings.Contains(d.Detail, c.index) || d.Seq != 6 {
				t.Fatalf("verify: %v, want the index %s and seq 6 named", err, c.index)
			}
			rw, err := sql.Open("sqlite3", "file:"+l.db.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer rw.Close()
			if _, err := rw.Exec(`REINDEX ` + c.index); err != nil { // by the declared definition
				t.Fatal(err)
			}
			if _, err := audit.VerifyTrail(context.Background(), audit.ReadStream(l.store), note.VerifierList(known), fresh); err != nil {
				t.Fatalf("after REINDEX: %v", err)
			}
		})
	}
}

func TestVerifyNamesAForgedOrMisSizedCheckpoint(t *testing.T) {
	other, _, err := note.GenerateKey(nil, audit.Origin)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := note.NewSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		make func(l *ledger, size int64) *events.CheckpointSigned
		what audit.Divergence
	}{
		{"forged signature", func(l *ledger, size int64) *events.CheckpointSigned {
			return l.signedEvent(t, size, size, forger)
		}, audit.CheckpointSignature},
		{"size unlike its note", func(l *ledger, size int64) *events.CheckpointSigned {
			return l.signedEvent(t, size, size-1, l.signer)
		}, audit.CheckpointSize},
		{"size beyond itself", func(l *ledger, size int64) *events.CheckpointSigned {
			ev := l.signedEvent(t, size, size, l.signer)
			cp, err := audit.ParseCheckpoint([]byte(strings.SplitN(ev.Note, "\n\n", 2)[0] + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			cp.Size = size + 5
			signed, err := audit.SignCheckpoint(cp, l.signer)
			if err != nil {
				t.Fatal(err)
			}
			ev.Size, ev.Note = uint64(cp.Size), string(signed)
			return ev
		}, audit.CheckpointSize},
		{"root of another size", func(l *ledger, size int64) *events.CheckpointSigned {
			ev := l.signedEvent(t, size-1, size-1, l.signer)
			cp, err := audit.ParseCheckpoint([]byte(strings.SplitN(ev.Note, "\n\n", 2)[0] + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			cp.Size = size // the root of size-1 claimed for size
			signed, err := audit.SignCheckpoint(cp, l.signer)
			if err != nil {
				t.Fatal(err)
			}
			ev.Size, ev.Note = uint64(size), string(signed)
			return ev
		}, audit.CheckpointRoot},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := startLedger(t)
			l.story(t)
			l.checkpoint(t)
			l.story(t)
			size, err := audit.NewHashStore(l.db.SQL()).Size(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ev := c.make(l, size)
			_, lastCp, err := (&audit.Trail{DB: l.db.SQL()}).LatestCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			seq, err := l.store.Append(context.Background(), events.SubjectCheckpoint, lastCp, "", []events.Event{ev})
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			l.story(t)
			d := l.divergence(t)
			if d.What != c.what {
				t.Fatalf("divergence %v (%s), want %s", d, d.What, c.what)
			}
			if c.what == audit.CheckpointSize && d.Seq != seq {
				t.Fatalf("named seq %d, the checkpoint is at %d", d.Seq, seq)
			}
			if c.what != audit.CheckpointSize && d.Checkpoint != size {
				t.Fatalf("named checkpoint %d, want %d", d.Checkpoint, size)
			}
		})
	}
}

// signedEvent is a checkpoint event of the stored tree at treeSize, saying
// size, signed by s.
func (l *ledger) signedEvent(t *testing.T, treeSize, size int64, s note.Signer) *events.CheckpointSigned {
	t.Helper()
	ctx := context.Background()
	root, err := audit.NewHashStore(l.db.SQL()).TreeHead(ctx, treeSize)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := audit.SignCheckpoint(audit.Checkpoint{Origin: audit.Origin, Size: treeSize, Root: root}, s)
	if err != nil {
		t.Fatal(err)
	}
	return &events.CheckpointSigned{Meta: events.Meta{At: time.Now().UTC(), Actor: "system"}, Size: uint64(size), Note: string(signed)}
}

// TestVerifyBesideAServerThatKeepsWriting: events stored and projected
// while verify reads the stream are left for the next run, not reported as
// leaves the stream lacks.
func TestVerifyBesideAServerThatKeepsWriting(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	known, err := note.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	read := func(ctx context.Context, fn func([]events.Recorded) error) error {
		var got []events.Recorded
		if err := audit.ReadStream(l.store)(ctx, func(b []events.Recorded) error { got = append(got, b...); return nil }); err != nil {
			return err
		}
		l.story(t) // the server writes on, and projects it, while verify reads
		return fn(got)
	}
	rep, err := audit.VerifyTrail(context.Background(), read, note.VerifierList(known), l.db.SQL())
	if err != nil {
		t.Fatalf("verify beside a writing server: %v", err)
	}
	if rep.Rows != uint64(rep.Size) {
		t.Fatalf("%d rows compared of %d events read", rep.Rows, rep.Size)
	}
}
