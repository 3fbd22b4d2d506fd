package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go"
)

// waitTrace polls a key's trace until ok holds (usage reaches it with the
// usage projector, a moment after it is stored).
func waitTrace(t *testing.T, m *Main, admin, keyID string, ok func(keyledger.KeyTrace) bool) keyledger.KeyTrace {
	t.Helper()
	var tr keyledger.KeyTrace
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		tr = decodeJSON[keyledger.KeyTrace](t, mustCLI(t, m, admin, "audit", "trace", keyID, "--json"))
		if ok(tr) {
			return tr
		}
	}
	t.Fatalf("trace of %s never held: %+v", keyID, tr.Usage)
	return tr
}

// TestGatewayUseCountsAsUse: verifications answered by an embedded
// gateway reach keyledger. Before, a key used only through a gateway kept
// no last_used_at (the inactivity policy would end it while in use), and
// its trace and the suspicious ranking missed the traffic.
func TestGatewayUseCountsAsUse(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "gw-only", "--scope", "orders:read")
	gw, err := gateway.New(context.Background(), gateway.Config{Conn: connectAs(t, m, gatewayToken(t, m, "edge-1"))})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		gw.Verify(tok, "orders:read", "203.0.113.7")
	}
	for range 5 {
		gw.Verify(tok, "orders:write", "198.51.100.9")
	}
	gw.Close() // reports the minute so far
	tr := waitTrace(t, m, admin, id, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	h := tr.Usage[len(tr.Usage)-1]
	if h.Counts.Valid != 20 || h.Counts.MissingScope != 5 {
		t.Fatalf("trace usage %+v, want 20 valid and 5 missing_scope", h.Counts)
	}
	from := map[string]int64{}
	for _, s := range h.Sources {
		from[s.IP] = s.Count
	}
	if from["203.0.113.7"] != 20 || from["198.51.100.9"] != 5 {
		t.Fatalf("sources %+v", h.Sources)
	}
	// The trace names who reported the use: a gateway's report is told
	// apart from keyledger's own before an admin revokes on it.
	if len(h.ReportedBy) != 1 || h.ReportedBy[0] != (keyledger.UsageReporter{Reporter: "gateway:edge-1", Attempts: 25}) {
		t.Fatalf("reported by %+v, want gateway:edge-1 with 25 attempts", h.ReportedBy)
	}
	if table := mustCLI(t, m, admin, "audit", "trace", id); !strings.Contains(table, "gateway:edge-1 ×25") {
		t.Fatalf("the trace table does not name the gateway:\n%s", table)
	}
	k := decodeJSON[struct {
		LastUsedAt *time.Time `json:"last_used_at"`
	}](t, mustCLI(t, m, admin, "key", "show", id, "--json"))
	if k.LastUsedAt == nil {
		t.Fatal("a key used through a gateway has no last_used_at")
	}
}

// TestGatewayUsageReportsAreChecked: only a gateway may report, what it
// reports is held to what it could have seen, and a report sent twice is
// stored once.
func TestGatewayUsageReportsAreChecked(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "reported")
	minute := time.Now().UTC().Truncate(time.Minute)
	report := func(keys ...verifier.KeyUsage) []byte {
		b, _ := json.Marshal(verifier.UsageReport{Minute: minute, Keys: keys})
		return b
	}
	good := report(verifier.KeyUsage{KeyID: id, Valid: 7, Sources: map[string]uint64{"192.0.2.1": 7}})

	// A key's own connection may not publish there at all.
	if _, err := connectAs(t, m, tok).Request(events.GatewayUsageSubject, good, time.Second); err == nil {
		t.Fatal("a key's connection reported usage")
	}
	// keyledger's own account carries no gateway identity: refused.
	if msg, err := m.nc.Request(events.GatewayUsageSubject, good, 5*time.Second); err != nil || msg.Header.Get("Keyledger-Error-Code") != keyledger.EForbidden {
		t.Fatalf("a report without a gateway's identity: %v %v", msgText(msg), err)
	}

	gw := connectAs(t, m, gatewayToken(t, m, "edge-2"))
	ask := func(body []byte) (string, string) {
		t.Helper()
		msg, err := gw.Request(events.GatewayUsageSubject, body, 5*time.Second)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		return msg.Header.Get("Keyledger-Error-Code"), string(msg.Data)
	}
	for name, body := range map[string][]byte{
		"junk":                                  []byte("{"),
		"an array":                              []byte("[]"),
		"unknown field":                         []byte(`{"minute":"` + minute.Format(time.RFC3339) + `","keys":[],"owner":"x"}`),
		"a future hour":                         []byte(strings.Replace(string(good), minute.Format("2006-01-02T15"), minute.Add(3*time.Hour).Format("2006-01-02T15"), 1)),
		"a wildcard key":                        report(verifier.KeyUsage{KeyID: "*", Valid: 1}),
		"a bad address":                         report(verifier.KeyUsage{KeyID: id, Valid: 1, Sources: map[string]uint64{"10.0.0.1.evil": 1}}),
		"a report_id with a dot and a wildcard": []byte(`{"minute":"` + minute.Format(time.RFC3339) + `","report_id":"r.*","keys":[{"key_id":"` + id + `","valid":1}]}`),
		"a huge body":                           []byte(`{"minute":"` + minute.Format(time.RFC3339) + `","keys":[` + strings.Repeat(`{"key_id":"`+id+`","valid":1},`, 12000) + `{}]}`),
	} {
		if code, body := ask(body); code != keyledger.EInvalid {
			t.Errorf("%s: code %q (%s), want invalid", name, code, body)
		}
	}
	if code, body := ask(report(verifier.KeyUsage{KeyID: "01J9Z3Q5W8X2M4N6P7R8S9T0VA", Valid: 1})); code != "" || !strings.Contains(body, `"unknown_keys":1`) {
		t.Fatalf("a key keyledger does not hold: %s %s", code, body)
	}
	// Sent twice, as a retry after a lost answer would: without a report
	// ID, and then as another report with its own ID.
	named, _ := json.Marshal(verifier.UsageReport{Minute: minute, ReportID: "01J9Z3Q5W8X2M4N6P7R8S9T0VB",
		Keys: []verifier.KeyUsage{{KeyID: id, Valid: 7, Sources: map[string]uint64{"192.0.2.1": 7}}}})
	for _, body := range [][]byte{good, good, named, named} {
		if code, body := ask(body); code != "" || !strings.Contains(body, `"recorded":1`) {
			t.Fatalf("a good report: %s %s", code, body)
		}
	}
	// A later report for another key: once its use shows, everything the
	// gateway reported before it has reached the trace too.
	later, _ := issued(t, m, admin, "--name", "reported-later")
	if code, body := ask(report(verifier.KeyUsage{KeyID: later, Valid: 1})); code != "" {
		t.Fatalf("a later report: %s %s", code, body)
	}
	waitTrace(t, m, admin, later, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	// The key's own connection above counts as a use keyledger reports,
	// whenever its minute is flushed: only the gateway's share is counted.
	tr := waitTrace(t, m, admin, id, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	fromGateway := reportedBy(tr, "gateway:edge-2")
	if fromGateway != 14 {
		t.Fatalf("uses reported by the gateway after two reports sent twice each: %d, want 14 (each stored once; nothing from the refused ones): %+v",
			fromGateway, tr.Usage)
	}
}

// Two gateways under one credential (replicas of one deployment), each
// closed within the same minute, are both counted. Before, keyledger
// stored one report per gateway name, key and minute: the second replica's
// counts were answered "recorded" and dropped as a resend.
func TestGatewaysUnderOneCredentialAreAllCounted(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, tok := issued(t, m, admin, "--name", "behind-replicas")
	cred := gatewayToken(t, m, "edge-replicas")
	for _, uses := range []int{3, 4} {
		gw, err := gateway.New(context.Background(), gateway.Config{Conn: connectAs(t, m, cred)})
		if err != nil {
			t.Fatal(err)
		}
		for range uses {
			if res := gw.Verify(tok, "", "203.0.113.8"); !res.Valid {
				t.Fatalf("verify through a replica: %+v", res)
			}
		}
		gw.Close() // reports the minute so far
	}
	var got int64
	waitTrace(t, m, admin, id, func(tr keyledger.KeyTrace) bool {
		got = reportedBy(tr, "gateway:edge-replicas")
		return got >= 7
	})
	if got != 7 {
		t.Fatalf("the replicas reported %d uses, want 7", got)
	}
}

// reportedBy sums the attempts reporter reported in tr, over every hour.
func reportedBy(tr keyledger.KeyTrace, reporter string) int64 {
	var n int64
	for _, h := range tr.Usage {
		for _, r := range h.ReportedBy {
			if r.Reporter == reporter {
				n += r.Attempts
			}
		}
	}
	return n
}

// msgText is a reply's error code and body, for failure messages.
func msgText(msg *nats.Msg) string {
	if msg == nil {
		return "no reply"
	}
	return msg.Header.Get("Keyledger-Error-Code") + " " + string(msg.Data)
}

// A burst of refusals only a gateway reported is flagged, and the finding
// says so: before, audit suspicious ranked a key on a gateway's word with
// nothing pointing at the gateway (red team: the bootstrap admin key, first,
// with a ready revoke command).
func TestSuspiciousUseNamesTheGatewayThatReportedIt(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, _ := issued(t, m, admin, "--name", "reported")
	body, _ := json.Marshal(verifier.UsageReport{Minute: time.Now().UTC().Truncate(time.Minute),
		Keys: []verifier.KeyUsage{{KeyID: id, Valid: 1, Denied: map[string]uint64{"not_found": 50}, Sources: map[string]uint64{"192.0.2.66": 51}}}})
	msg, err := connectAs(t, m, gatewayToken(t, m, "edge-3")).Request(events.GatewayUsageSubject, body, 5*time.Second)
	if err != nil || msg.Header.Get("Keyledger-Error-Code") != "" {
		t.Fatalf("report: %v %s", err, msgText(msg))
	}
	waitTrace(t, m, admin, id, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	findings := decodeJSON[struct {
		Findings []keyledger.Finding `json:"findings"`
	}](t, mustCLI(t, m, admin, "audit", "suspicious", "--json")).Findings
	for _, f := range findings {
		if f.KeyID == id {
			if ev := strings.Join(f.Evidence, " | "); !strings.Contains(ev, "reported by gateway:edge-3 ×51") {
				t.Fatalf("evidence %q does not name the gateway", ev)
			}
			return
		}
	}
	t.Fatalf("no finding for %s among %+v", id, findings)
}

// A gateway credential cannot store usage without end by naming every
// report anew: past commands.MaxGatewayReportsPerMinute reports for one
// minute it is refused (limit_reached), a resend of one taken is still
// answered, and only what was taken is counted.
func TestAGatewayFloodingReportsIsBounded(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	id, _ := issued(t, m, admin, "--name", "flooded")
	gw := connectAs(t, m, gatewayToken(t, m, "edge-flood"))
	minute := time.Now().UTC().Truncate(time.Minute)
	send := func(reportID string) string {
		t.Helper()
		body, _ := json.Marshal(verifier.UsageReport{Minute: minute, ReportID: reportID, Keys: []verifier.KeyUsage{{KeyID: id, Valid: 1}}})
		msg, err := gw.Request(events.GatewayUsageSubject, body, 5*time.Second)
		if err != nil {
			t.Fatalf("report %s: %v", reportID, err)
		}
		return msg.Header.Get("Keyledger-Error-Code")
	}
	for i := range commands.MaxGatewayReportsPerMinute {
		if code := send(fmt.Sprintf("flood-%d", i)); code != "" {
			t.Fatalf("report %d of %d refused: %s", i+1, commands.MaxGatewayReportsPerMinute, code)
		}
	}
	for i := range 50 {
		if code := send(fmt.Sprintf("more-%d", i)); code != keyledger.ELimitReached {
			t.Fatalf("report %d past the bound: code %q, want limit_reached", i+1, code)
		}
	}
	if code := send("flood-0"); code != "" {
		t.Fatalf("a resend of a report taken: %s", code)
	}
	// Another gateway's report for another key, sent last: once it shows,
	// all before it has reached the trace.
	later, _ := issued(t, m, admin, "--name", "barrier")
	body, _ := json.Marshal(verifier.UsageReport{Minute: minute, Keys: []verifier.KeyUsage{{KeyID: later, Valid: 1}}})
	if msg, err := connectAs(t, m, gatewayToken(t, m, "edge-other")).Request(events.GatewayUsageSubject, body, 5*time.Second); err != nil ||
		msg.Header.Get("Keyledger-Error-Code") != "" {
		t.Fatalf("another gateway's report: %v %s", err, msgText(msg))
	}
	waitTrace(t, m, admin, later, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	tr := waitTrace(t, m, admin, id, func(tr keyledger.KeyTrace) bool { return len(tr.Usage) > 0 })
	if got := reportedBy(tr, "gateway:edge-flood"); got != commands.MaxGatewayReportsPerMinute {
		t.Fatalf("%d uses counted, want the %d reports taken", got, commands.MaxGatewayReportsPerMinute)
	}
}
