package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/projections"
)

// listBenchRows is the size of the generated audit table:
// $KEYLEDGER_AUDIT_BENCH_ROWS, 10,000,000 by default. The file is kept in the
// system temp directory and reused by later runs.
func listBenchRows() int {
	if n, err := strconv.Atoi(os.Getenv("KEYLEDGER_AUDIT_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

// Shape of the generated trail: 10,000 owners, each with keys of about 10
// events; 1,000 distinct actors; one event a second from benchStart.
const (
	benchOwners = 10_000
	benchActors = 1_000
)

var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// generatedTrail returns ledger.db-like audit tables of n rows, generated
// with SQL (the rows are realistic in shape, not in content).
func generatedTrail(b *testing.B, n int) *sql.DB {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("keyledger-audit-bench-v2-%d.db", n))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp"
		os.Remove(tmp)
		db, err := sql.Open("sqlite3", "file:"+tmp+"?_journal_mode=OFF&_synchronous=OFF")
		if err != nil {
			b.Fatal(err)
		}
		if err := audit.Migrate(context.Background(), db); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		_, err = db.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
			INSERT INTO audit_events (seq, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash)
			SELECT i, strftime('%Y-%m-%dT%H:%M:%S.000Z', ?, '+' || i || ' seconds'),
				printf('01HACTOR%018d', i % ?), printf('01HAKEY%019d', i % ?),
				CASE i % 10 WHEN 0 THEN 'key.issued' WHEN 1 THEN 'key.renamed' WHEN 2 THEN 'key.revoked' WHEN 3 THEN 'key.regenerated'
					WHEN 4 THEN 'key.deleted' WHEN 5 THEN 'user.registered' ELSE 'key.expired' END,
				printf('01HKEY%020d', i / 10), printf('01HOWNER%018d', (i / 10) % ?),
				'http 10.0.0.1:5555', '{"reason":"rotated"}', randomblob(32)
			FROM s`, n, benchStart.Format("2006-01-02 15:04:05"), benchActors, benchActors, benchOwners)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d rows in %s", n, time.Since(start))
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAuditList asks for filtered pages of 100 entries from a
// 10,000,000-row trail, and reports p50 and p99 latency per filter.
func BenchmarkAuditList(b *testing.B) {
	n := listBenchRows()
	trail := &audit.Trail{DB: generatedTrail(b, n)}
	ctx := context.Background()
	at := func(sec int) *time.Time { t := benchStart.Add(time.Duration(sec) * time.Second); return &t }
	filters := map[string]func(r *rand.Rand) keyledger.AuditFilter{
		"key": func(r *rand.Rand) keyledger.AuditFilter {
			return keyledger.AuditFilter{KeyID: fmt.Sprintf("01HKEY%020d", r.IntN(n/10))}
		},
		"owner": func(r *rand.Rand) keyledger.AuditFilter {
			return keyledger.AuditFilter{Owner: fmt.Sprintf("01HOWNER%018d", r.IntN(benchOwners))}
		},
		"owner+action": func(r *rand.Rand) keyledger.AuditFilter {
			return keyledger.AuditFilter{Owner: fmt.Sprintf("01HOWNER%018d", r.IntN(benchOwners)), Action: "key.revoked"}
		},
		"actor": func(r *rand.Rand) keyledger.AuditFilter {
			return keyledger.AuditFilter{Actor: fmt.Sprintf("01HACTOR%018d", r.IntN(benchActors))}
		},
		"action": func(r *rand.Rand) keyledger.AuditFilter { return keyledger.AuditFilter{Action: "key.revoked"} },
		"action+day": func(r *rand.Rand) keyledger.AuditFilter {
			s := r.IntN(n - 86400)
			return keyledger.AuditFilter{Action: "key.revoked", Since: at(s), Until: at(s + 86400)}
		},
		"day": func(r *rand.Rand) keyledger.AuditFilter {
			s := r.IntN(n - 86400)
			return keyledger.AuditFilter{Since: at(s), Until: at(s + 86400)}
		},
		"owner+since": func(r *rand.Rand) keyledger.AuditFilter {
			return keyledger.AuditFilter{Owner: fmt.Sprintf("01HOWNER%018d", r.IntN(benchOwners)), Since: at(r.IntN(n))}
		},
		"action page 50": func(r *rand.Rand) keyledger.AuditFilter {
			seq := n - 5000*r.IntN(n/5000)
			return keyledger.AuditFilter{Action: "key.revoked", Cursor: at(seq).Format("2006-01-02T15:04:05.000Z") + "/" + strconv.Itoa(seq)}
		},
	}
	names := make([]string, 0, len(filters))
	for name := range filters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				f := filters[name](r)
				start := time.Now()
				if _, err := trail.List(ctx, f); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}

// BenchmarkAuditTrace traces keys of the 10,000,000-row trail, each with
// its use per hour: 200 keys used in each of their last 720 hours from
// three addresses, and one used every minute of 30 days from 50 addresses
// an hour, the most a trace reads. It reports p50 and p99 latency.
func BenchmarkAuditTrace(b *testing.B) {
	n := listBenchRows()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("keyledger-audit-bench-v2-%d.db", n))
	generatedTrail(b, n) // made once, kept
	usage := traceUsageDB(b)
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // the usage tables are attached to this one connection
	if _, err := db.Exec(`ATTACH DATABASE ? AS u`, "file:"+usage+"?mode=ro"); err != nil {
		b.Fatal(err)
	}
	trail := &audit.Trail{DB: db}
	ctx := context.Background()
	hourly := func(r *rand.Rand) string { return fmt.Sprintf("01HKEY%020d", r.IntN(200)) }
	busy := func(*rand.Rand) string { return fmt.Sprintf("01HKEY%020d", 999_999) }
	for _, tc := range []struct {
		name    string
		key     func(r *rand.Rand) string
		hours   int
		sources int
	}{
		{"hourly use, 168 hours", hourly, keyledger.TraceUsageHours, 3},
		{"hourly use, 720 hours", hourly, keyledger.MaxTraceUsageHours, 3},
		{"every minute, 168 hours", busy, keyledger.TraceUsageHours, keyledger.TraceSourcesPerHour + 1},
		{"every minute, 720 hours", busy, keyledger.MaxTraceUsageHours, keyledger.TraceSourcesPerHour + 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				key := tc.key(r)
				start := time.Now()
				tr, err := trail.Trace(ctx, key, tc.hours)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				if len(tr.Entries) == 0 || len(tr.Usage) != tc.hours || len(tr.Usage[0].Sources) != tc.sources {
					b.Fatalf("trace of %s: %d entries, %d hours", key, len(tr.Entries), len(tr.Usage))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}

// traceUsageDB writes the per-hour usage tables BenchmarkAuditTrace
// attaches, in a ledger.db the projections' own migrations made.
func traceUsageDB(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "usage.db")
	ldb := projections.NewDB(path)
	if err := ldb.Open(); err != nil {
		b.Fatal(err)
	}
	defer ldb.Close()
	db := ldb.SQL()
	for _, q := range []string{
		`WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 199),
			h(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM h WHERE j < 719)
		INSERT INTO usage_hours (key_id, hour, valid, not_found)
			SELECT printf('01HKEY%020d', i), strftime('%Y-%m-%dT%H:00:00.000Z', '2026-11-23 12:00:00', '-' || j || ' hours'), 40, 1 FROM k, h`,
		`WITH RECURSIVE a(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM a WHERE x < 2)
		INSERT INTO usage_hour_sources SELECT key_id, hour, '10.0.' || x || '.1', 10 + x FROM usage_hours, a`,
		`WITH RECURSIVE h(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM h WHERE j < 719)
		INSERT INTO usage_hours (key_id, hour, valid, rate_limited)
			SELECT printf('01HKEY%020d', 999999), strftime('%Y-%m-%dT%H:00:00.000Z', '2026-11-23 12:00:00', '-' || j || ' hours'), 6000, 180 FROM h`,
		`WITH RECURSIVE a(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM a WHERE x < 49)
		INSERT INTO usage_hour_sources SELECT key_id, hour, '192.0.2.' || x, 100 + x FROM usage_hours, a
			WHERE key_id = printf('01HKEY%020d', 999999)`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%.60s: %v", q, err)
		}
	}
	return path
}
