package verifier

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// A UsageReport is one minute of a gateway's verifications, per key, as a
// gateway sends it to keyledger.gateway.usage: keyledger stores it as it
// stores its own instances' usage, so that use through a gateway moves
// last_used_at (and keeps the inactivity policy from expiring a key in
// use) and shows in traces and the suspicious ranking.
type UsageReport struct {
	Minute time.Time  `json:"minute"`
	Keys   []KeyUsage `json:"keys"`
	// ReportID names the report, so that keyledger stores it once however
	// often it is sent: keep it through resends, and make a new one for
	// every other report (gateway.Gateway makes a ULID). Without one,
	// keyledger stores one report per gateway name, key and minute, and
	// drops the rest: two gateways under one credential, or one restarted
	// within a minute, would lose counts.
	ReportID string `json:"report_id,omitempty"`
}

// MaxReportIDLen is the longest ReportID taken.
const MaxReportIDLen = 64

// MessageID is what keyledger stores the counts of key in r under, as
// instance, so that a report sent again is stored once.
func (r UsageReport) MessageID(instance, keyID string) string {
	id := instance + "." + keyID + "." + r.Minute.UTC().Format("200601021504")
	if r.ReportID != "" {
		id += "." + r.ReportID
	}
	return id
}

// validReportID reports whether id is 1 to MaxReportIDLen letters, digits,
// '-' or '_' (a ULID, a UUID).
func validReportID(id string) bool {
	if id == "" || len(id) > MaxReportIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// KeyUsage is one key's counts within a UsageReport.
type KeyUsage struct {
	KeyID        string            `json:"key_id"`
	Valid        uint64            `json:"valid,omitempty"`
	Denied       map[string]uint64 `json:"denied,omitempty"`
	LastUsedAt   *time.Time        `json:"last_used_at,omitempty"`
	Sources      map[string]uint64 `json:"sources,omitempty"`
	OtherSources uint64            `json:"other_sources,omitempty"`
}

// Limits of one report: a gateway sends a minute's usage in as many
// reports as it takes.
const (
	// MaxReportKeys is the most keys one report may hold.
	MaxReportKeys = 500
	// MaxReportAge is how old a report's minute may be: a gateway reports
	// each minute as it ends, and retries for a little while.
	MaxReportAge = time.Hour
	// maxCount bounds each count: more than a billion verifications of one
	// key in one minute is no gateway's.
	maxCount = 1 << 30
)

// Reports splits usage taken from an index (TakeUsage) into reports of at
// most MaxReportKeys keys each.
func Reports(minute time.Time, usage []*events.UsageRecorded) []UsageReport {
	var out []UsageReport
	for len(usage) > 0 {
		n := min(len(usage), MaxReportKeys)
		r := UsageReport{Minute: minute.UTC().Truncate(time.Minute), Keys: make([]KeyUsage, n)}
		for i, u := range usage[:n] {
			r.Keys[i] = KeyUsage{KeyID: u.KeyID, Valid: u.Valid, Denied: u.Denied, LastUsedAt: u.LastUsedAt, Sources: u.Sources, OtherSources: u.OtherSources}
		}
		out = append(out, r)
		usage = usage[n:]
	}
	return out
}

// deniedCodes are the refusal codes a report may count.
var deniedCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range counterCodes[countValid+1:] {
		m[c] = true
	}
	return m
}()

// errReport makes a report's refusal.
func errReport(format string, args ...any) error {
	return keyledger.Errorf(keyledger.EInvalid, format, args...)
}

// UsageOf checks a gateway's report and returns it as usage events of
// instance, each with the owner this index holds for its key, at now. Keys
// this index does not hold (never issued, or deleted) are left out and
// counted in unknown. A report with anything out of bounds is refused
// whole (invalid), so a retry after a fix cannot store half of it twice.
func (x *Index) UsageOf(r UsageReport, instance string, now time.Time) (usage []*events.UsageRecorded, unknown int, err error) {
	minute := r.Minute.UTC()
	switch {
	case minute.IsZero() || !minute.Equal(minute.Truncate(time.Minute)):
		return nil, 0, errReport("minute: a whole minute in RFC 3339, e.g. 2026-12-07T13:05:00Z")
	case minute.After(now.Add(time.Minute)):
		return nil, 0, errReport("minute: %s is in the future", minute.Format(time.RFC3339))
	case minute.Before(now.Add(-MaxReportAge)):
		return nil, 0, errReport("minute: %s is more than %s ago", minute.Format(time.RFC3339), MaxReportAge)
	case r.ReportID != "" && !validReportID(r.ReportID):
		return nil, 0, errReport("report_id: 1 to %d letters, digits, '-' or '_'", MaxReportIDLen)
	case len(r.Keys) == 0:
		return nil, 0, errReport("keys: none")
	case len(r.Keys) > MaxReportKeys:
		return nil, 0, errReport("keys: %d, more than %d in one report", len(r.Keys), MaxReportKeys)
	}
	seen := make(map[ulid.ULID]bool, len(r.Keys))
	for i, k := range r.Keys {
		id, err := ulid.ParseStrict(k.KeyID)
		if err != nil || !keyledger.IsID(k.KeyID) {
			return nil, 0, errReport("keys[%d].key_id: not a key ID", i)
		}
		if seen[id] {
			return nil, 0, errReport("keys[%d].key_id: %s twice", i, k.KeyID)
		}
		seen[id] = true
		if err := checkKeyUsage(k, minute, now); err != nil {
			return nil, 0, fmt.Errorf("keys[%d] (%s): %w", i, k.KeyID, err)
		}
		owner, networks, ok := x.reportable(id)
		if !ok {
			unknown++
			continue
		}
		if k.Denied["forbidden_ip"] > 0 && !networks {
			// Only a key limited to networks can be refused for its
			// caller's address: a count of them for any other is made up.
			return nil, 0, errReport("keys[%d] (%s): denied.forbidden_ip: the key allows every address", i, k.KeyID)
		}
		u := &events.UsageRecorded{
			Meta:  events.Meta{At: now.UTC(), Actor: "system", Source: instance},
			KeyID: k.KeyID, Owner: owner, Minute: minute, Valid: k.Valid, Denied: k.Denied,
			Sources: canonicalSources(k.Sources), OtherSources: k.OtherSources, Instance: instance,
		}
		if k.LastUsedAt != nil {
			t := k.LastUsedAt.UTC().Truncate(time.Second)
			u.LastUsedAt = &t
		}
		usage = append(usage, u)
	}
	return usage, unknown, nil
}

// checkKeyUsage holds one key's counts to what a gateway could have seen
// in that minute.
func checkKeyUsage(k KeyUsage, minute, now time.Time) error {
	total := k.Valid
	if k.Valid > maxCount {
		return errReport("valid: more than %d", maxCount)
	}
	for code, n := range k.Denied {
		if !deniedCodes[code] {
			return errReport("denied: %q is no refusal code", code)
		}
		if n == 0 || n > maxCount {
			return errReport("denied.%s: 1 to %d", code, maxCount)
		}
		total += n
	}
	if total == 0 {
		return errReport("no verifications counted")
	}
	if len(k.Sources) > MaxSources {
		return errReport("sources: %d addresses, more than %d", len(k.Sources), MaxSources)
	}
	var fromSources uint64
	for ip, n := range k.Sources {
		if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" || a.IsUnspecified() {
			return errReport("sources: %q is not a caller's IP address", ip)
		}
		if n == 0 || n > maxCount {
			return errReport("sources.%s: 1 to %d", ip, maxCount)
		}
		fromSources += n
	}
	if fromSources+k.OtherSources > total {
		return errReport("sources: %d attempts, more than the %d counted", fromSources+k.OtherSources, total)
	}
	if k.LastUsedAt != nil {
		t := k.LastUsedAt.UTC()
		if k.Valid == 0 {
			return errReport("last_used_at: set with no valid use")
		}
		if t.After(now.Add(time.Minute)) { // a last use only moves forward: not past now
			return errReport("last_used_at: %s is in the future", t.Format(time.RFC3339))
		}
		// A valid use counted in this minute was its last use, or one
		// just after it (a use between the minute's end and the report).
		if t.Before(minute) || !t.Before(minute.Add(2*time.Minute)) {
			return errReport("last_used_at: %s is not within the minute reported (%s)", t.Format(time.RFC3339), minute.Format(time.RFC3339))
		}
	}
	return nil
}

// canonicalSources writes each address in its one canonical form, so that
// ::ffff:10.0.0.1 and 10.0.0.1 are one source in the trail.
func canonicalSources(in map[string]uint64) map[string]uint64 {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(in))
	for ip, n := range in {
		a, _ := netip.ParseAddr(ip) // checked
		out[a.Unmap().String()] += n
	}
	return out
}

// reportable is the owner of a key the index holds, and whether the key is
// limited to networks (so that a gateway may have refused it for an address).
func (x *Index) reportable(id ulid.ULID) (owner string, networks, ok bool) {
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k := s.m[id]; k != nil {
		return k.owner, k.limits != nil && len(k.limits.cidrs) > 0, true
	}
	return "", false, false
}
