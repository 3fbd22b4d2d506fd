package commands

import (
	"fmt"
	"testing"
	"time"
)

// Each gateway and minute has its own bound, a resend of a report taken
// is always taken, and minutes past the age reports may have are let go.
func TestReportBound(t *testing.T) {
	var b reportBound
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	minute := now.Add(-time.Minute)
	for i := range MaxGatewayReportsPerMinute {
		if !b.admit("edge", minute, fmt.Sprint(i), now) {
			t.Fatalf("report %d refused", i)
		}
	}
	if b.admit("edge", minute, "one more", now) || b.admit("edge", minute, "", now) {
		t.Fatal("a report past the bound was taken")
	}
	if !b.admit("edge", minute, "7", now) {
		t.Fatal("a resend of a report taken was refused")
	}
	if !b.admit("edge-2", minute, "x", now) || !b.admit("edge", minute.Add(-time.Minute), "x", now) {
		t.Fatal("another gateway's or another minute's report was refused")
	}
	later := now.Add(2 * time.Hour)
	b.admit("edge", later.Add(-time.Minute), "", later)
	if len(b.minutes) != 1 {
		t.Fatalf("%d minutes kept two hours on, want 1", len(b.minutes))
	}
}
