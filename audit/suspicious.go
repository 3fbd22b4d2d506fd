package audit

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

// Queries answers the audit queries over ledger.db for the command service.
type Queries struct {
	DB  *sql.DB
	Now func() time.Time
}

// Suspicious is the package's Suspicious at the current time, with default
// tuning.
func (q *Queries) Suspicious(ctx context.Context, window time.Duration, limit int) ([]keyledger.Finding, error) {
	return Suspicious(ctx, q.DB, q.Now(), window, limit, Suspicion{})
}

// Suspicion tunes the ranking. The zero value uses the defaults below.
type Suspicion struct {
	// Baseline is how many windows before the current one make a key's
	// trailing baseline (default 24).
	Baseline int
	// MinVolume is the least use in the window for a volume jump to count
	// (default 20), so a key going from 1 to 5 calls is not news.
	MinVolume int
	// MinFailures is the least failed attempts in the window for a burst
	// (default 10).
	MinFailures int
}

// failures sums the usage columns that are failed attempts.
const failures = `(u.not_found + u.revoked + u.expired + u.forbidden_ip + u.missing_scope + u.rate_limited + u.disabled)`

// failureReasons name the refusals Suspicious counts, besides not_found
// (a wrong secret), in the order it reads them.
var failureReasons = [...]string{
	"revoked", "expired", "forbidden_ip (from outside its allowed networks)", "missing_scope", "rate_limited", "disabled",
}

// Suspicious ranks keys by how unusual their use in the window ending at
// now is, most suspicious first, at most limit of them. Signals:
//   - volume far above the key's own trailing baseline (the mean of the
//     Baseline windows before);
//   - bursts of failed attempts (wrong secret, forbidden address, missing
//     scope, rate limited, or use after the key ended);
//   - use from addresses never seen for that key in the baseline (only
//     for keys that have a baseline of addresses);
//   - use of a key whose owner was deactivated.
//
// It reads the usage, keys and users tables of ledger.db.
func Suspicious(ctx context.Context, db *sql.DB, now time.Time, window time.Duration, limit int, tune Suspicion) ([]keyledger.Finding, error) {
	if tune.Baseline <= 0 {
		tune.Baseline = 24
	}
	if tune.MinVolume <= 0 {
		tune.MinVolume = 20
	}
	if tune.MinFailures <= 0 {
		tune.MinFailures = 10
	}
	start := now.Add(-window)
	since := start.Add(-time.Duration(tune.Baseline) * window)
	rows, err := db.QueryContext(ctx, `
		SELECT u.key_id, COALESCE(k.owner, ''), COALESCE(o.name, ''), COALESCE(k.status, 'unknown'), COALESCE(o.active, 1),
			SUM(CASE WHEN u.minute >= ?1 THEN u.valid + `+failures+` ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN `+failures+` ELSE 0 END),
			SUM(CASE WHEN u.minute < ?1 THEN u.valid + `+failures+` ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.not_found ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.revoked ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.expired ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.forbidden_ip ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.missing_scope ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.rate_limited ELSE 0 END),
			SUM(CASE WHEN u.minute >= ?1 THEN u.disabled ELSE 0 END)
		FROM usage u
		LEFT JOIN keys k ON k.key_id = u.key_id
		LEFT JOIN users o ON o.user_id = k.owner
		WHERE u.minute >= ?2 AND u.minute < ?3
		GROUP BY u.key_id
		HAVING SUM(CASE WHEN u.minute >= ?1 THEN 1 ELSE 0 END) > 0`,
		stamp(start), stamp(since), stamp(now))
	if err != nil {
		return nil, fmt.Errorf("suspicious: %w", err)
	}
	defer rows.Close()
	fresh, err := newAddresses(ctx, db, since, start, now)
	if err != nil {
		return nil, err
	}
	out := []keyledger.Finding{}
	for rows.Next() {
		var f keyledger.Finding
		var ownerActive bool
		var recent, failed, before, wrongSecret int64
		var reasons [6]int64 // revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled
		if err := rows.Scan(&f.KeyID, &f.Owner, &f.OwnerName, &f.Status, &ownerActive, &recent, &failed, &before, &wrongSecret,
			&reasons[0], &reasons[1], &reasons[2], &reasons[3], &reasons[4], &reasons[5]); err != nil {
			return nil, fmt.Errorf("suspicious: %w", err)
		}
		baseline := float64(before) / float64(tune.Baseline)
		// A key with no use before the window has no baseline to be far
		// above: its volume says nothing yet.
		if ratio := float64(recent) / max(baseline, 1); before > 0 && recent >= int64(tune.MinVolume) && ratio >= 4 {
			f.Score += math.Log2(ratio)
			f.Evidence = append(f.Evidence, fmt.Sprintf("%d uses in the last %s, %.0f× its trailing mean of %.1f", recent, window, ratio, baseline))
		}
		if failed >= int64(tune.MinFailures) {
			f.Score += math.Log2(float64(failed)) * float64(failed) / float64(recent)
			ev := fmt.Sprintf("%d failed attempts of %d in the last %s", failed, recent, window)
			var parts []string
			for i, name := range failureReasons {
				if reasons[i] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", reasons[i], name))
				}
			}
			if wrongSecret > 0 {
				// A wrong secret for a real key ID: guessing, or a client
				// still holding the secret of a key since regenerated.
				parts = append(parts, fmt.Sprintf("%d with a wrong secret (guesses, or a client still holding the key's old secret)", wrongSecret))
			}
			ev += ": " + strings.Join(parts, ", ")
			f.Evidence = append(f.Evidence, ev)
		}
		if ips := fresh[f.KeyID]; len(ips) > 0 {
			f.Score += 2 + math.Log2(float64(len(ips)))
			shown := ips[:min(len(ips), 5)]
			f.Evidence = append(f.Evidence, fmt.Sprintf("used from %d address(es) never seen for this key before: %s", len(ips), strings.Join(shown, ", ")))
		}
		if !ownerActive {
			f.Score += 10
			f.Evidence = append(f.Evidence, fmt.Sprintf("%d attempts although its owner %s is deactivated", recent, f.OwnerName))
		}
		if f.Score == 0 {
			continue
		}
		if f.Status == keyledger.StatusActive { // revoking any other is a conflict
			f.Revoke = fmt.Sprintf("keyledger key revoke %s --reason %q", f.KeyID, "suspicious use: "+f.Evidence[0])
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("suspicious: %w", err)
	}
	slices.SortFunc(out, func(a, b keyledger.Finding) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		if err := gatewayReports(ctx, db, &out[i], start, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gatewayReports adds to a finding which gateways reported the key's use
// in the hours of the window: a gateway credential may report use of any
// key it knows, so evidence from a gateway's report alone is a gateway's
// word, not keyledger's own verifications.
func gatewayReports(ctx context.Context, db *sql.DB, f *keyledger.Finding, start, now time.Time) error {
	rows, err := db.QueryContext(ctx, `SELECT reporter, SUM(attempts) FROM usage_hour_reporters
		WHERE key_id = ? AND hour >= ? AND hour <= ? GROUP BY reporter ORDER BY 2 DESC, 1`,
		f.KeyID, stamp(start.Truncate(time.Hour)), stamp(now))
	if err != nil {
		return fmt.Errorf("suspicious: reporters: %w", err)
	}
	defer rows.Close()
	var gateways []string
	var own int64
	for rows.Next() {
		var reporter string
		var n int64
		if err := rows.Scan(&reporter, &n); err != nil {
			return fmt.Errorf("suspicious: reporters: %w", err)
		}
		if strings.HasPrefix(reporter, "gateway:") {
			gateways = append(gateways, fmt.Sprintf("%s ×%d", reporter, n))
		} else {
			own += n
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("suspicious: reporters: %w", err)
	}
	if len(gateways) > 0 {
		f.Evidence = append(f.Evidence, fmt.Sprintf("reported by %s and keyledger ×%d in these hours: "+
			"a gateway's report is its word, see audit trace", strings.Join(gateways, ", "), own))
	}
	return nil
}

// newAddresses returns, per key, the addresses it was used from between start
// and now that it was not used from between since and start, for keys that
// were used from some address in that baseline.
func newAddresses(ctx context.Context, db *sql.DB, since, start, now time.Time) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT DISTINCT s.key_id, s.ip FROM usage_sources s
		WHERE s.minute >= ?1 AND s.minute < ?2 AND s.ip != '*'
			AND EXISTS (SELECT 1 FROM usage_sources b WHERE b.key_id = s.key_id AND b.minute >= ?3 AND b.minute < ?1)
			AND NOT EXISTS (SELECT 1 FROM usage_sources b WHERE b.key_id = s.key_id AND b.ip = s.ip AND b.minute >= ?3 AND b.minute < ?1)
		ORDER BY s.key_id, s.ip`, stamp(start), stamp(now), stamp(since))
	if err != nil {
		return nil, fmt.Errorf("suspicious: new addresses: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var key, ip string
		if err := rows.Scan(&key, &ip); err != nil {
			return nil, fmt.Errorf("suspicious: new addresses: %w", err)
		}
		out[key] = append(out[key], ip)
	}
	return out, rows.Err()
}

// stamp formats t as ledger.db stores times, so text order is time order.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
