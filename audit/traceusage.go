package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/keyledger/keyledger"
)

// usagePerHour reads the key's usage per hour (the usage projection sums
// it as it is written), over its most recent hours of use.
func (t *Trail) usagePerHour(ctx context.Context, keyID string, hours int) ([]keyledger.UsageHour, error) {
	rows, err := t.DB.QueryContext(ctx, `SELECT hour, valid, not_found, revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled
		FROM usage_hours WHERE key_id = ? ORDER BY hour DESC LIMIT ?`, keyID, hours)
	if err != nil {
		return nil, fmt.Errorf("trace usage: %w", err)
	}
	defer rows.Close()
	var out []keyledger.UsageHour
	for rows.Next() {
		var hour string
		var c keyledger.UsageCounts
		if err := rows.Scan(&hour, &c.Valid, &c.NotFound, &c.Revoked, &c.Expired, &c.ForbiddenIP, &c.MissingScope, &c.RateLimited, &c.Disabled); err != nil {
			return nil, fmt.Errorf("trace usage: %w", err)
		}
		at, err := parseTime(hour)
		if err != nil {
			return nil, fmt.Errorf("trace usage: hour %q: %w", hour, err)
		}
		out = append(out, keyledger.UsageHour{Hour: at, Counts: c, Sources: []keyledger.UsageSource{}, ReportedBy: []keyledger.UsageReporter{}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trace usage: %w", err)
	}
	if len(out) == 0 {
		return []keyledger.UsageHour{}, nil
	}
	slices.Reverse(out) // oldest first
	if err := t.sourcesPerHour(ctx, keyID, out); err != nil {
		return nil, err
	}
	return out, t.reportersPerHour(ctx, keyID, out)
}

// reportersPerHour fills who reported each hour's attempts, most first.
func (t *Trail) reportersPerHour(ctx context.Context, keyID string, hours []keyledger.UsageHour) error {
	index := make(map[string]int, len(hours))
	for i, h := range hours {
		index[h.Hour.Format(timeFormat)] = i
	}
	rows, err := t.DB.QueryContext(ctx, `SELECT hour, reporter, attempts FROM usage_hour_reporters WHERE key_id = ? AND hour >= ?`,
		keyID, hours[0].Hour.Format(timeFormat))
	if err != nil {
		return fmt.Errorf("trace reporters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hour string
		var r keyledger.UsageReporter
		if err := rows.Scan(&hour, &r.Reporter, &r.Attempts); err != nil {
			return fmt.Errorf("trace reporters: %w", err)
		}
		if i, ok := index[hour]; ok {
			hours[i].ReportedBy = append(hours[i].ReportedBy, r)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("trace reporters: %w", err)
	}
	for i := range hours {
		slices.SortFunc(hours[i].ReportedBy, func(a, b keyledger.UsageReporter) int {
			return cmp.Or(cmp.Compare(b.Attempts, a.Attempts), cmp.Compare(a.Reporter, b.Reporter))
		})
	}
	return nil
}

// sourcesPerHour fills each hour's busiest addresses.
func (t *Trail) sourcesPerHour(ctx context.Context, keyID string, hours []keyledger.UsageHour) error {
	index := make(map[string]int, len(hours))
	for i, h := range hours {
		index[h.Hour.Format(timeFormat)] = i
	}
	rows, err := t.DB.QueryContext(ctx, `SELECT hour, ip, count FROM usage_hour_sources WHERE key_id = ? AND hour >= ?`,
		keyID, hours[0].Hour.Format(timeFormat))
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
