package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The report runs from the CLI for admins and auditors, and nobody else.
func TestAuditSuspiciousFromTheCLI(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	if out := mustCLI(t, m, admin, "audit", "suspicious", "--window", "30m"); !strings.Contains(out, "Nothing unusual in the last 30m") {
		t.Fatalf("fresh ledger: %q", out)
	}
	if out := mustCLI(t, m, admin, "audit", "suspicious", "--json"); !strings.Contains(out, `"findings":[]`) {
		t.Fatalf("--json: %q", out)
	}
	mustCLI(t, m, admin, "user", "add", "dev", "--role", "developer")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--owner", "dev", "--name", "d", "--json"))
	mustFail(t, m, writeToken(t, k.Token), "forbidden", "audit", "suspicious")
	mustFail(t, m, admin, "invalid", "audit", "suspicious", "--window", "P30D")
}
