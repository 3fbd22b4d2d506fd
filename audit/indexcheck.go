package audit

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
)

// auditTables are the tables whose indexes the audit queries read.
var auditTables = []string{"audit_events", "tlog_hashes"}

// rowInMessage finds the row an integrity-check message names; an audit
// row's rowid is its seq.
var rowInMessage = regexp.MustCompile(`^row (\d+) missing from index`)

// checkIndexes runs SQLite's integrity check on the audit tables and their
// indexes. The row comparison reads rows by seq, the table itself; the
// audit queries read through the indexes. An index rebuilt to leave a row
// out, or to file it under another actor, with its declared definition
// restored in the schema, passes the row comparison and quick_check, and
// fails this: it recomputes every index entry from the rows.
func checkIndexes(ctx context.Context, db *sql.DB) error {
	for _, table := range auditTables {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%s)", table))
		if err != nil {
			return fmt.Errorf("audit: integrity check of %s: %w", table, err)
		}
		var msgs []string
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return fmt.Errorf("audit: integrity check of %s: %w", table, err)
			}
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit: integrity check of %s: %w", table, err)
		}
		if len(msgs) == 1 && msgs[0] == "ok" {
			continue
		}
		first := msgs[0] // one that names a row, if any does
		for _, m := range msgs {
			if rowInMessage.MatchString(m) {
				first = m
				break
			}
		}
		d := &DivergenceError{What: Index, Detail: fmt.Sprintf("%s: %s", table, first)}
		if len(msgs) > 1 {
			d.Detail += fmt.Sprintf(" (and %d more)", len(msgs)-1)
		}
		if m := rowInMessage.FindStringSubmatch(first); m != nil && table == "audit_events" {
			d.Seq, _ = strconv.ParseUint(m[1], 10, 64)
		}
		return d
	}
	return nil
}
