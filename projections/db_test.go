package projections_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	_ "github.com/mattn/go-sqlite3"
)

// MustOpenDB opens a projection database in a temporary file.
func MustOpenDB(tb testing.TB) *projections.DB {
	tb.Helper()
	db := projections.NewDB(filepath.Join(tb.TempDir(), "ledger.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpenRebuildsAnOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	old, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE keys (id TEXT PRIMARY KEY, hash TEXT)`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db := projections.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatalf("open over an older schema: %v", err)
	}
	defer db.Close()
	if !db.Rebuilt {
		t.Fatal("an older file was not marked for rebuilding")
	}
	if seq, err := db.LastSeq(context.Background()); err != nil || seq != 0 {
		t.Fatalf("rebuilt file starts at %d (%v), want 0", seq, err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	db := MustOpenDB(t)
	if _, err := db.SQL().Exec(`INSERT INTO projection_migrations (applier, version, name, applied_at) VALUES ('state', 99, 'future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	again := projections.NewDB(db.Path)
	err := again.Open()
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

func TestReopenKeepsRowsAndPosition(t *testing.T) {
	db := MustOpenDB(t)
	db.Close()
	again := projections.NewDB(db.Path)
	if err := again.Open(); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Rebuilt {
		t.Fatal("a current file was rebuilt")
	}
}

// stream stores evs, in order, in a real JetStream stream and returns it.
func stream(t *testing.T, evs ...events.Event) *events.Store {
	t.Helper()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	store := events.NewStore(js)
	ctx := context.Background()
	if err := store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if _, err := store.Append(ctx, events.SubjectAll, uint64(i), "", []events.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// project runs a projector from src into db until it has applied seq.
func project(t *testing.T, db *projections.DB, src projections.Source, seq uint64) {
	t.Helper()
	p := projections.NewProjector(db, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := p.WaitFor(wctx, seq); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("projector: %v", err)
	}
}

func TestProjectorAppliesEachEventOnceAcrossRestarts(t *testing.T) {
	db := MustOpenDB(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := events.Meta{At: at, Actor: "A"}
	exp := at.Add(time.Hour)
	src := stream(t,
		&events.UserRegistered{Meta: m, UserID: "U", Name: "u", Kind: "person", Roles: []string{"developer"}},
		&events.KeyIssued{Meta: m, KeyID: "K", Owner: "U", Name: "ci", SecretHash: "h", ExpiresAt: &exp})
	project(t, db, src, 2)
	if _, err := src.Append(context.Background(), events.SubjectAll, 2, "", []events.Event{&events.KeyRevoked{Meta: m, KeyID: "K", Owner: "U", Reason: "leak"}}); err != nil {
		t.Fatal(err)
	}
	project(t, db, src, 3) // a restart resumes after seq 2; re-inserting K would fail
	db.Now = func() time.Time { return at }
	k, err := db.Key(context.Background(), "K")
	if err != nil {
		t.Fatal(err)
	}
	if k.Status != keyledger.StatusRevoked || k.RevokedAt == nil || k.OwnerName != "u" {
		t.Fatalf("key after restart: %+v", k)
	}
	if seq, _ := db.LastSeq(context.Background()); seq != 3 {
		t.Fatalf("last_seq %d, want 3", seq)
	}
}

func TestKeyStatusFollowsTimeAndInactivity(t *testing.T) {
	db := MustOpenDB(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := events.Meta{At: at, Actor: "A"}
	exp := at.Add(48 * time.Hour)
	s := keyledger.DefaultSettings()
	s.InactivityExpiry = "P1D"
	project(t, db, stream(t,
		&events.UserRegistered{Meta: m, UserID: "U", Name: "u", Kind: "person"},
		&events.KeyIssued{Meta: m, KeyID: "K", Owner: "U", Name: "ci", SecretHash: "h", ExpiresAt: &exp},
		&events.SettingsChanged{Meta: m, Settings: s}), 3)
	ctx := context.Background()
	for _, tc := range []struct {
		at     time.Time
		status string
	}{
		{at.Add(time.Hour), "active"},
		{at.Add(25 * time.Hour), "expired"}, // unused for a day
	} {
		db.Now = func() time.Time { return tc.at }
		k, err := db.Key(ctx, "K")
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != tc.status || !k.EffectiveExpiresAt.Equal(at.Add(24*time.Hour)) {
			t.Fatalf("at %s: status %s, effective expiry %v", tc.at, k.Status, k.EffectiveExpiresAt)
		}
		page, err := db.Keys(ctx, keyledger.KeyFilter{Status: tc.status})
		if err != nil || len(page.Keys) != 1 {
			t.Fatalf("filter %s found %d keys (%v)", tc.status, len(page.Keys), err)
		}
	}
}
