package projections_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/oklog/ulid/v2"
)

// TestLastUseSurvivesARebuildInEitherOrder: when ledger.db is rebuilt, the
// usage projection may catch up before the keys exist. A key's last use
// must still be what the usage stream says, or inactivity expiry would
// count from the key's issue and sweep a key used yesterday.
func TestLastUseSurvivesARebuildInEitherOrder(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	store, usage := events.NewStore(js), events.NewUsageStore(js)
	for _, s := range []*events.Store{store, usage} {
		if err := s.Open(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	owner, key := ulid.Make().String(), ulid.Make().String()
	m := events.Meta{At: t0, Actor: owner}
	seq, err := store.Append(ctx, events.SubjectAll, 0, "", []events.Event{
		&events.UserRegistered{Meta: m, UserID: owner, Name: "svc", Kind: keyledger.KindService, Roles: []string{keyledger.RoleDeveloper}},
		&events.KeyIssued{Meta: m, KeyID: key, Owner: owner, Name: "ci", SecretHash: "00"},
	})
	if err != nil {
		t.Fatal(err)
	}
	used := t0.Add(26 * time.Hour)
	if err := usage.Publish(ctx, []events.Event{&events.UsageRecorded{Meta: m, KeyID: key, Owner: owner,
		Minute: used.Truncate(time.Minute), Valid: 3, LastUsedAt: &used, Instance: "i"}}, []string{"u1"}); err != nil {
		t.Fatal(err)
	}
	for name, usageFirst := range map[string]bool{"ledger first": false, "usage first": true} {
		t.Run(name, func(t *testing.T) {
			db := MustOpenDB(t)
			runUsage := func() {
				p := projections.NewProjector(db, usage)
				p.Name = "usage"
				runProjector(t, p, 1)
			}
			if usageFirst {
				runUsage()
			}
			project(t, db, store, seq)
			if !usageFirst {
				runUsage()
			}
			var last sql.NullString
			if err := db.SQL().QueryRow(`SELECT last_used_at FROM keys WHERE key_id = ?`, key).Scan(&last); err != nil {
				t.Fatal(err)
			}
			if want := used.UTC().Format("2006-01-02T15:04:05.000Z"); last.String != want {
				t.Fatalf("last_used_at %q, want %q", last.String, want)
			}
		})
	}
}
