// This file prints the audit trail for people: the entries table and a
// key's trace; --json prints the answers as they are.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

// printTrace prints a key's story, then its use per hour.
func printTrace(out io.Writer, tr *keyledger.KeyTrace, hours int) {
	fmt.Fprintf(out, "key %s", tr.KeyID)
	if tr.KeyName != "" {
		fmt.Fprintf(out, " %q", tr.KeyName)
	}
	fmt.Fprintf(out, ", owner %s\n\n", userLabel(tr.OwnerName, tr.Owner))
	printEntries(out, tr.Entries, true)
	denied := 0
	for _, e := range tr.Entries {
		if e.Action == "key.denied" {
			denied++
		}
	}
	fmt.Fprintf(out, "\nrefused calls and connections recorded: %d (key.denied above; at most %d a minute per key are "+
		"recorded, so more may have been refused)\n", denied, commands.DeniedPerMinute)
	if len(tr.Usage) == 0 {
		fmt.Fprintln(out, "verifications: none recorded (usage is flushed once a minute)")
		return
	}
	fmt.Fprintf(out, "\nverifications per hour (UTC; the key's last %d hours of use at most, --hours):\n", hours)
	w := newTable(out)
	fmt.Fprintln(w, "HOUR\tVALID\tVERIFY REFUSED\tFROM\tREPORTED BY")
	for _, h := range tr.Usage {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", h.Hour.UTC().Format("2006-01-02 15:00"), h.Counts.Valid, refusedText(h.Counts),
			sourcesText(h.Sources), reportersText(h.ReportedBy))
	}
	w.Flush()
}

// reportersText is who reported an hour's attempts: "gateway:edge-1 ×25,
// keyledger ×3" (keyledger's own instances together; --json has their IDs).
func reportersText(rs []keyledger.UsageReporter) string {
	var parts []string
	var own int64
	for _, r := range rs {
		if strings.HasPrefix(r.Reporter, "gateway:") {
			parts = append(parts, fmt.Sprintf("%s ×%d", r.Reporter, r.Attempts))
		} else {
			own += r.Attempts
		}
	}
	if own > 0 {
		parts = append(parts, fmt.Sprintf("keyledger ×%d", own))
	}
	return orDash(strings.Join(parts, ", "))
}

// refusedText is "0", or the refusals with their reasons: "3 (1 not_found, 2 revoked)".
func refusedText(c keyledger.UsageCounts) string {
	if c.Refused() == 0 {
		return "0"
	}
	var parts []string
	for _, r := range []struct {
		n    int64
		code string
	}{{c.NotFound, "not_found"}, {c.Revoked, "revoked"}, {c.Expired, "expired"}, {c.ForbiddenIP, "forbidden_ip"},
		{c.MissingScope, "missing_scope"}, {c.RateLimited, "rate_limited"}, {c.Disabled, "disabled"}} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r.n, r.code))
		}
	}
	return fmt.Sprintf("%d (%s)", c.Refused(), strings.Join(parts, ", "))
}

// sourcesText is "10.0.0.1 ×7, * ×6", or "-" when no address was named.
func sourcesText(sources []keyledger.UsageSource) string {
	if len(sources) == 0 {
		return "-"
	}
	parts := make([]string, len(sources))
	for i, s := range sources {
		parts[i] = fmt.Sprintf("%s ×%d", s.IP, s.Count)
	}
	return strings.Join(parts, ", ")
}

// printEntries prints audit entries as a table, users by name where they
// have one. DETAIL is the JSON detail, cut short past detailWidth (--json
// gives it whole). A trace (oneKey) leaves out the key and owner columns,
// which its heading names.
func printEntries(out io.Writer, entries []*keyledger.AuditEntry, oneKey bool) {
	w := newTable(out)
	if oneKey {
		fmt.Fprintln(w, "SEQ\tAT\tACTOR\tACTION\tSOURCE\tDETAIL")
	} else {
		fmt.Fprintln(w, "SEQ\tAT\tACTOR\tACTION\tKEY ID\tOWNER\tSOURCE\tDETAIL")
	}
	for _, e := range entries {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t", e.Seq, e.At.UTC().Format(time.RFC3339), orDash(nameOr(e.ActorName, e.Actor)), e.Action)
		if !oneKey {
			fmt.Fprintf(w, "%s\t%s\t", orDash(e.KeyID), orDash(nameOr(e.OwnerName, e.Owner)))
		}
		fmt.Fprintf(w, "%s\t%s\n", orDash(sourceText(e)), orDash(cut(entryDetail(e), detailWidth)))
	}
	w.Flush()
}

// sourceText is where an entry came from, for a table: a witness by its
// instance's ID alone ("witness 01J…"), not the whole signer name
// ("keyledger/KEYLEDGER/witness/01J…") that --json gives.
func sourceText(e *keyledger.AuditEntry) string {
	if name, ok := strings.CutPrefix(e.Source, "witness "); ok && e.Action == "audit.cosigned" {
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			return "witness " + name[i+1:]
		}
	}
	return e.Source
}

// entryDetail is an entry's detail for a table; a checkpoint or a
// co-signature by its tree size, not its signed note (--json has it).
func entryDetail(e *keyledger.AuditEntry) string {
	if e.Action == "audit.checkpoint" || e.Action == "audit.cosigned" {
		var c struct {
			Size *uint64 `json:"size"`
		}
		if json.Unmarshal(e.Detail, &c) == nil && c.Size != nil {
			what := "signed"
			if e.Action == "audit.cosigned" {
				what = "co-signed"
			}
			return fmt.Sprintf("tree size %d %s (--json: the note)", *c.Size, what)
		}
	}
	return detailText(e.Detail)
}

// detailText is an entry's detail for a table: a change of several
// fields ({"before":{…},"after":{…}}) as the fields that changed,
// "max_expiry: \"P90D\" → \"P30D\"", so that a cut does not hide it;
// any other detail as its JSON.
func detailText(detail json.RawMessage) string {
	var change struct {
		Before map[string]json.RawMessage `json:"before"`
		After  map[string]json.RawMessage `json:"after"`
	}
	if json.Unmarshal(detail, &change) != nil || change.Before == nil || change.After == nil {
		return string(detail)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(change.After)) {
		if k == "updated_at" || k == "updated_by" { // the entry's AT and ACTOR say it
			continue
		}
		if b, a := string(change.Before[k]), string(change.After[k]); b != a {
			parts = append(parts, fmt.Sprintf("%s: %s → %s", k, orDash(b), a))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// detailWidth is how much of an entry's detail a table shows.
const detailWidth = 100

// nameOr is a user's name, or their ID when they have none.
func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// cut shortens s to at most n characters, ending it with "…" if cut.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
