package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// TestAuditTableShowsCheckpointsBySize: the audit log's own checkpoints
// and co-signatures come every minute of activity; in the table they take
// one short line each (tree size, the witness's instance ID), not a signed
// note with escaped newlines and a 60-character signer name that widen
// every other row.
func TestAuditTableShowsCheckpointsBySize(t *testing.T) {
	at := time.Date(2026, 12, 7, 13, 8, 14, 0, time.UTC)
	note := "keyledger/KEYLEDGER\n10\nCG2maCtQ7L4eSq7UCgqDr0NC9lVld/6SzmKyH1GhJs8=\n\n— keyledger/KEYLEDGER npU3T5Iv\n"
	detail := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	entries := []*keyledger.AuditEntry{
		{Seq: 12, At: at, Actor: "system", Action: "audit.cosigned", Source: "witness keyledger/KEYLEDGER/witness/01M989S30FYCR5G9BZDQNR30ND",
			Detail: detail(map[string]any{"size": 10, "witness": "keyledger/KEYLEDGER/witness/01M989S30FYCR5G9BZDQNR30ND+bcef6913+Ae", "note": note})},
		{Seq: 11, At: at, Actor: "system", Action: "audit.checkpoint", Source: "checkpointer", Detail: detail(map[string]any{"size": 10, "note": note})},
	}
	var out strings.Builder
	printEntries(&out, entries, false)
	got := out.String()
	for _, want := range []string{"witness 01M989S30FYCR5G9BZDQNR30ND  ", "tree size 10 co-signed", "tree size 10 signed"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	for _, unwanted := range []string{`\n`, "keyledger/KEYLEDGER/witness"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("%q in\n%s", unwanted, got)
		}
	}
}
