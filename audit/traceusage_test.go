package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/projections"
)

// TestTraceSumsUseByHourWithSources: a trace adds a key's per-minute usage
// into hours, oldest first, with its busiest addresses (the rest as "*"),
// counts no other key's use, and reports at most TraceUsageHours hours:
// the newest.
func TestTraceSumsUseByHourWithSources(t *testing.T) {
	db := projections.NewDB(filepath.Join(t.TempDir(), "ledger.db"))
	db.Use("ledger", audit.NewApplier())
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	const key, other = "01HKEY00000000000000000001", "01HKEY00000000000000000002"
	for i, k := range []string{key, other} {
		txExec(t, tx, `INSERT INTO audit_events (seq, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash)
			VALUES (?, '2026-11-20T08:00:00.000Z', 'admin', '', 'key.issued', ?, 'OWNER', 'test', '{}', x'00')`, i+1, k)
	}
	// What the usage projection writes for a minute of use: the minute's
	// rows, and the hour's sums.
	usage := func(k, minute string, valid, notFound, revoked int) {
		txExec(t, tx, `INSERT INTO usage (key_id, minute, valid, not_found, revoked) VALUES (?, ?, ?, ?, ?)`, k, minute, valid, notFound, revoked)
		txExec(t, tx, `INSERT INTO usage_hours (key_id, hour, valid, not_found, revoked) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET valid = valid + excluded.valid, not_found = not_found + excluded.not_found, revoked = revoked + excluded.revoked`,
			k, minute[:13]+":00:00.000Z", valid, notFound, revoked)
	}
	source := func(k, minute, ip string, n int) {
		txExec(t, tx, `INSERT INTO usage_sources (key_id, minute, ip, count) VALUES (?, ?, ?, ?)`, k, minute, ip, n)
		txExec(t, tx, `INSERT INTO usage_hour_sources (key_id, hour, ip, count) VALUES (?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET count = count + excluded.count`, k, minute[:13]+":00:00.000Z", ip, n)
	}
	usage(key, "2026-11-23T09:05:00.000Z", 5, 1, 0)
	usage(key, "2026-11-23T09:40:00.000Z", 7, 0, 2)
	usage(key, "2026-11-23T11:00:00.000Z", 3, 0, 0)
	usage(key, "2026-11-23T12:00:00.000Z", 1, 0, 0)
	source(key, "2026-11-23T12:00:00.000Z", "*", 1) // no address named, only "*"
	usage(other, "2026-11-23T09:05:00.000Z", 1000, 0, 0)
	source(key, "2026-11-23T09:05:00.000Z", "10.0.0.1", 3)
	source(key, "2026-11-23T09:05:00.000Z", "10.0.0.2", 2)
	source(key, "2026-11-23T09:40:00.000Z", "10.0.0.1", 4)
	source(key, "2026-11-23T09:40:00.000Z", "*", 3)
	for i := range 9 {
		source(key, "2026-11-23T09:40:00.000Z", fmt.Sprintf("192.0.2.%d", i), 1)
	}
	source(other, "2026-11-23T09:05:00.000Z", "203.0.113.9", 1000)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	trail := &audit.Trail{DB: db.SQL()}
	tr, err := trail.Trace(context.Background(), key, keyledger.TraceUsageHours)
	if err != nil {
		t.Fatal(err)
	}
	if tr.KeyID != key || tr.Owner != "OWNER" || len(tr.Entries) != 1 || len(tr.Usage) != 3 {
		t.Fatalf("trace: %+v", tr)
	}
	h := tr.Usage[0]
	if !h.Hour.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) || h.Counts != (keyledger.UsageCounts{Valid: 12, NotFound: 1, Revoked: 2}) {
		t.Fatalf("first hour: %+v", h)
	}
	// 10.0.0.1 (7), 10.0.0.2 (2), six of the nine 192.0.2.x (1 each); the
	// other three and the 3 already counted as "*" make "*" 6.
	if len(h.Sources) != 9 || h.Sources[0] != (keyledger.UsageSource{IP: "10.0.0.1", Count: 7}) ||
		h.Sources[1] != (keyledger.UsageSource{IP: "10.0.0.2", Count: 2}) || h.Sources[8] != (keyledger.UsageSource{IP: "*", Count: 6}) {
		t.Fatalf("first hour's sources: %+v", h.Sources)
	}
	if h := tr.Usage[1]; !h.Hour.Equal(time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)) || h.Counts.Valid != 3 || len(h.Sources) != 0 {
		t.Fatalf("second hour: %+v", h)
	}
	if h := tr.Usage[2]; len(h.Sources) != 1 || h.Sources[0] != (keyledger.UsageSource{IP: "*", Count: 1}) {
		t.Fatalf("third hour: %+v", h)
	}

	// A key used every hour for 800 hours: the newest 720.
	tx, err = db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	for i := range 800 {
		usage(other, start.Add(time.Duration(i)*time.Hour).Format("2006-01-02T15:04:05.000Z"), 1, 0, 0)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if tr, err = trail.Trace(context.Background(), other, keyledger.TraceUsageHours); err != nil || len(tr.Usage) != keyledger.TraceUsageHours {
		t.Fatalf("by default: %d hours (%v), want %d", len(tr.Usage), err, keyledger.TraceUsageHours)
	}
	tr, err = trail.Trace(context.Background(), other, keyledger.MaxTraceUsageHours)
	if err != nil {
		t.Fatal(err)
	}
	newest := tr.Usage[len(tr.Usage)-1].Hour
	if len(tr.Usage) != keyledger.MaxTraceUsageHours || !newest.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("%d hours, newest %v; want %d, the newest", len(tr.Usage), newest, keyledger.MaxTraceUsageHours)
	}
}
