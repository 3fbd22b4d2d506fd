package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
)

// A rename records the name it replaced, found by a lookup that must cost
// the same on the 6,000th rename as on the first: a plan that sorts the
// key's rows (a temporary B-tree) grows with every rename and every denied
// attempt naming the key.
func TestPriorStateLookupsDoNotSort(t *testing.T) {
	db := MustOpenDB(t)
	projector, verify := audit.PriorQueries()
	for _, q := range append(projector, verify...) {
		args := []any{"01HZ0000000000000000000000", uint64(7)}[:strings.Count(q, "?")]
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if strings.Contains(got, "TEMP B-TREE") || !strings.Contains(got, "USING INDEX") {
			t.Errorf("%s\nplan: %s; want one index search, no sort", q, got)
		}
	}
}

// A key renamed thousands of times still records each rename's own before
// and after, in the projection and in audit verify's recomputation.
func TestManyRenamesRecordTheirBefore(t *testing.T) {
	l := startLedger(t)
	ctx := context.Background()
	issued, err := l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Name: "n0", ExpiresIn: "P30D"})
	if err != nil {
		t.Fatal(err)
	}
	const renames = 2000
	start, lap := time.Now(), time.Now()
	for i := 1; i <= renames; i++ {
		name := fmt.Sprintf("n%d", i)
		if _, err := l.svc.UpdateKey(ctx, l.admin, "", commands.UpdateKey{KeyID: issued.ID, Name: &name}); err != nil {
			t.Fatalf("rename %d: %v", i, err)
		}
		if i == 100 {
			t.Logf("first 100 renames: %v", time.Since(lap))
		} else if i == renames-100 {
			lap = time.Now()
		}
	}
	t.Logf("last 100 renames: %v (all %d: %v)", time.Since(lap), renames, time.Since(start))
	l.caughtUp(t)
	page, err := l.svc.AuditList(ctx, l.admin, keyledger.AuditFilter{KeyID: issued.ID, Action: "key.renamed", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"before":{"name":"n%d","description":""},"after":{"name":"n%d","description":""}}`, renames-1, renames)
	if len(page.Entries) != 1 || string(page.Entries[0].Detail) != want {
		t.Fatalf("newest rename: %+v, want detail %s", page.Entries, want)
	}
	if _, err := l.verify(t); err != nil {
		t.Fatalf("audit verify: %v", err)
	}
}
