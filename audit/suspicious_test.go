package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/projections"
)

// usageDB is a real ledger.db holding n keys of n owners with hourly usage
// for the past 25 hours around a normal level, seeded for repeatability.
func usageDB(t *testing.T, n int, now time.Time) *projections.DB {
	t.Helper()
	db := projections.NewDB(filepath.Join(t.TempDir(), "ledger.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	for i := range n {
		user, key := fmt.Sprintf("U%025d", i), fmt.Sprintf("K%025d", i)
		txExec(t, tx, `INSERT INTO users (user_id, name, kind, roles, active, created_at, updated_at) VALUES (?, ?, 'service', '[]', 1, ?, ?)`,
			user, fmt.Sprint("svc", i), stamp(now), stamp(now))
		txExec(t, tx, `INSERT INTO keys (key_id, owner, name, description, scopes, allowed_cidrs, status, secret_sha256, created_at, created_by, updated_at, seq)
			VALUES (?, ?, 'k', '', '[]', '[]', 'active', '', ?, 'admin', ?, 1)`, key, user, stamp(now), stamp(now))
		for h := range 25 {
			minute := now.Add(-time.Duration(h)*time.Hour - 30*time.Minute).Truncate(time.Minute)
			txExec(t, tx, `INSERT INTO usage (key_id, minute, valid, not_found) VALUES (?, ?, ?, ?)`,
				key, stamp(minute), 20+rng.IntN(40), rng.IntN(3))
			txExec(t, tx, `INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, ?, ?)`,
				key, stamp(minute), fmt.Sprintf("10.%d.%d.%d", i/250, i%250, rng.IntN(2)), 20)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

// Failed attempts and use of a deactivated owner's key are flagged too;
// only an active key's finding says how to revoke it.
func TestFailureBurstsAndDeactivatedOwnersAreFlagged(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	db := usageDB(t, 50, now)
	recent := now.Add(-10 * time.Minute).Format("2006-01-02T15:04:05.000Z")
	for _, q := range []string{
		`UPDATE usage SET not_found = not_found + 200 WHERE key_id = 'K0000000000000000000000007' AND minute >= '` + recent[:11] + `00:00:00.000Z'`,
		`UPDATE users SET active = 0 WHERE user_id = 'U0000000000000000000000009'`,
		// Key 13 is used from outside its allowed networks and without its scope.
		`UPDATE usage SET forbidden_ip = forbidden_ip + 150, missing_scope = missing_scope + 50 WHERE key_id = 'K0000000000000000000000013' AND minute >= '` + recent[:11] + `00:00:00.000Z'`,
		// Key 11 was revoked, and is still tried: worth showing, not revoking.
		`UPDATE usage SET not_found = not_found + 200 WHERE key_id = 'K0000000000000000000000011' AND minute >= '` + recent[:11] + `00:00:00.000Z'`,
		`UPDATE keys SET status = 'revoked' WHERE key_id = 'K0000000000000000000000011'`,
	} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	got, err := audit.Suspicious(context.Background(), db.SQL(), now, time.Hour, 0, audit.Suspicion{})
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]string{}
	for _, f := range got {
		flagged[f.KeyID] = f.Evidence[0]
		if active := f.Status == "active"; active != (f.Revoke != "") {
			t.Errorf("%s is %s, revoke command %q; want one for active keys only (revoking another is a conflict)", f.KeyID, f.Status, f.Revoke)
		}
	}
	// Wrong secrets are named as such: guesses, or a client with an old secret.
	if !strings.Contains(flagged["K0000000000000000000000007"], "with a wrong secret") {
		t.Errorf("K7: evidence %q does not say the failures were wrong secrets", flagged["K0000000000000000000000007"])
	}
	// Each kind of refusal is named with its count: an address outside the
	// key's networks is not a wrong secret.
	for _, want := range []string{"forbidden_ip (from outside its allowed networks)", "missing_scope"} {
		if !strings.Contains(flagged["K0000000000000000000000013"], want) {
			t.Errorf("K13: evidence %q, want it to name %s", flagged["K0000000000000000000000013"], want)
		}
	}
	for key, want := range map[string]string{"K0000000000000000000000007": "failed attempts", "K0000000000000000000000009": "deactivated",
		"K0000000000000000000000011": "failed attempts"} {
		if !strings.Contains(flagged[key], want) {
			t.Errorf("%s: evidence %q, want %q (flagged: %v)", key, flagged[key], want, flagged)
		}
	}
}

func txExec(t *testing.T, tx *sql.Tx, q string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestPlantedAbuserRanksFirstAmongAThousand(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	db := usageDB(t, 1000, now)
	ctx := context.Background()
	// Key 500: ten times its usual hour, in the current hour.
	if _, err := db.SQL().Exec(`UPDATE usage SET valid = valid * 10 WHERE key_id = ? AND minute >= ?`,
		fmt.Sprintf("K%025d", 500), now.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z")); err != nil {
		t.Fatal(err)
	}
	// ... and from addresses it was never used from.
	if _, err := db.SQL().Exec(`INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, '203.0.113.9', 300), (?, ?, '203.0.113.10', 100)`,
		fmt.Sprintf("K%025d", 500), now.Add(-20*time.Minute).Format("2006-01-02T15:04:05.000Z"),
		fmt.Sprintf("K%025d", 500), now.Add(-20*time.Minute).Format("2006-01-02T15:04:05.000Z")); err != nil {
		t.Fatal(err)
	}
	got, err := audit.Suspicious(ctx, db.SQL(), now, time.Hour, 10, audit.Suspicion{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].KeyID != fmt.Sprintf("K%025d", 500) {
		t.Fatalf("ranking %+v; want the planted key first", got)
	}
	if len(got) > 3 {
		t.Errorf("%d keys flagged among normal ones; want only the planted one or close", len(got))
	}
	if got[0].Revoke == "" || len(got[0].Evidence) != 2 || got[0].OwnerName != "svc500" ||
		!strings.Contains(got[0].Evidence[1], "203.0.113.9") {
		t.Fatalf("finding lacks evidence (volume and new addresses), owner or revoke command: %+v", got[0])
	}
}
