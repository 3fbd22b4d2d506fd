package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyledger/keyledger"
)

// usagePerHour sums the key's per-minute usage into hours, over its most
// recent keyledger.TraceUsageHours hours of use (bounded by rows, so a key
// in constant use for a year costs what one used for a month does).
func (t *Trail) usagePerHour(ctx context.Context, keyID string) ([]keyledger.UsageHour, error) {
	rows, err := t.DB.QueryContext(ctx, `SELECT substr(minute, 1, 13), SUM(valid), SUM(not_found), SUM(revoked), SUM(expired),
			SUM(forbidden_ip), SUM(missing_scope), SUM(rate_limited), SUM(disabled)
		FROM (SELECT * FROM usage WHERE key_id = ? ORDER BY minute DESC LIMIT ?)
		GROUP BY 1 ORDER BY 1 DESC LIMIT ?`, keyID, keyledger.TraceUsageHours*60, keyledger.TraceUsageHours)
	if err != nil {
		return nil, fmt.Errorf("trace usage: %w", err)
	}
	defer rows.Close()
	var hours []keyledger.UsageHour
	for rows.Next() {
		var hour string
		var c keyledger.UsageCounts
		if err := rows.Scan(&hour, &c.Valid, &c.NotFound, &c.Revoked, &c.Expired, &c.ForbiddenIP, &c.MissingScope, &c.RateLimited, &c.Disabled); err != nil {
			return nil, fmt.Errorf("trace usage: %w", err)
		}
		at, err := time.Parse("2006-01-02T15", hour)
		if err != nil {
			return nil, fmt.Errorf("trace usage: hour %q: %w", hour, err)
		}
		hours = append(hours, keyledger.UsageHour{Hour: at, Counts: c, Sources: []keyledger.UsageSource{}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trace usage: %w", err)
	}
	if len(hours) == 0 {
		return []keyledger.UsageHour{}, nil
	}
	slices.Reverse(hours) // oldest first
	return hours, t.sourcesPerHour(ctx, keyID, hours)
}

// sourcesPerHour fills each hour's busiest addresses.
func (t *Trail) sourcesPerHour(ctx context.Context, keyID string, hours []keyledger.UsageHour) error {
	index := make(map[string]int, len(hours))
	for i, h := range hours {
		index[h.Hour.Format("2006-01-02T15")] = i
	}
	from := hours[0].Hour.Format("2006-01-02T15")
	rows, err := t.DB.QueryContext(ctx, `SELECT substr(minute, 1, 13), ip, SUM(count) FROM usage_sources
		WHERE key_id = ? AND minute >= ? GROUP BY 1, 2`, keyID, from)
	if err != nil {
		return fmt.Errorf("trace sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hour string
		var s keyledger.UsageSource
		if err := rows.Scan(&hour, &s.IP, &s.Count); err != nil {
			return fmt.Errorf("trace sources: %w", err)
		}
		if i, ok := index[hour]; ok {
			hours[i].Sources = append(hours[i].Sources, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("trace sources: %w", err)
	}
	for i := range hours {
		hours[i].Sources = busiest(hours[i].Sources, keyledger.TraceSourcesPerHour)
	}
	return nil
}

// busiest keeps the n addresses with the most attempts, most first, and
// adds the rest (and any "*" already counted) as one "*" entry.
func busiest(sources []keyledger.UsageSource, n int) []keyledger.UsageSource {
	var rest int64
	named := sources[:0]
	for _, s := range sources {
		if s.IP == "*" {
			rest += s.Count
		} else {
			named = append(named, s)
		}
	}
	slices.SortFunc(named, func(a, b keyledger.UsageSource) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.IP, b.IP))
	})
	for _, s := range named[min(n, len(named)):] {
		rest += s.Count
	}
	named = named[:min(n, len(named))]
	if rest > 0 {
		named = append(named, keyledger.UsageSource{IP: "*", Count: rest})
	}
	return named
}
