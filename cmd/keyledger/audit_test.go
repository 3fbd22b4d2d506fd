package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/natstest"
)

// TestAuditCommands runs the audit subcommands against a real server: list
// and trace show who did what from where, a revocation's receipt checks
// offline and fails once altered, and verify passes an intact trail and names
// the seq of an edited row.
func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Stdout, m.Logger = io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil))
	// No periodic checkpoint comes during the test: a receipt must be
	// signed on demand. No witness either: the sequences below are the
	// commands' and the checkpoints' (TestInstancesCoSignCheckpoints has
	// witnesses).
	m.CheckpointEvery, m.CheckpointInterval, m.Cosign = 1_000_000, time.Hour, false
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	admin := filepath.Join(dir, "admin.token")
	if fi, err := os.Stat(filepath.Join(dir, "audit.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit.key: %v %v; want mode 0600", err, fi)
	}
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	key := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "ci", "--json"))
	mustCLI(t, m, admin, "key", "update", key.KeyID, "--name", "ci-old")
	mustCLI(t, m, admin, "key", "revoke", key.KeyID, "--reason", "leaked")

	trace := mustCLI(t, m, admin, "audit", "trace", key.KeyID)
	for _, want := range []string{"key.issued", "key.renamed", `name: "ci" → "ci-old"`, "key.revoked", `{"reason":"leaked"}`, "nats",
		"at most 10 a minute per key are recorded"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
	page := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "key.revoked", "--json"))
	if len(page.Entries) != 1 || page.Entries[0].KeyID != key.KeyID || page.Entries[0].ActorKey == "" || page.Entries[0].LeafHash == "" {
		t.Fatalf("revocations: %+v", page.Entries)
	}

	for _, bad := range [][]string{
		{"audit", "list", "--key", "*"},
		{"audit", "list", "--key", "a.b.>"},
		{"audit", "list", "--since", "yesterday"},
		{"audit", "list", "--limit", "0"},
		{"audit", "list", "--action", "key.*"},
		{"audit", "list", "--action", "keys.revoked"},
		{"audit", "list", "--cursor", "ünï"},
		{"audit", "prove", "0"},
		{"audit", "prove", "x y"},
		{"audit", "trace", "kl_notanid"},
		{"audit", "trace", "--hours", "721", "01M8539BCJXJBDPE24KPC0X18Q"},
		{"audit", "trace", "--hours", "-1", "01M8539BCJXJBDPE24KPC0X18Q"},
	} {
		mustFail(t, m, admin, "invalid", bad...)
	}
	// An action without what it is about matches nothing: said so.
	if _, errOut, _ := cli(t, m, admin, "audit", "list", "--action", "revoked"); !strings.Contains(errOut, `"revoked" is not an action`) ||
		!strings.Contains(errOut, "key.revoked") {
		t.Errorf("audit list --action revoked: %s; want the real name", errOut)
	}
	pub := filepath.Join(t.TempDir(), "keyledger.pub")
	writeFile(t, pub, mustCLI(t, m, admin, "audit", "pubkey", "--data", dir))
	// A mistyped --data is named as such, not as a server yet to start there.
	if _, errOut, code := cli(t, m, admin, "audit", "pubkey", "--data", dir+"-typo"); code != 1 || !strings.Contains(errOut, "no data directory") {
		t.Errorf("audit pubkey --data DIR-typo: exit %d %s; want no data directory", code, errOut)
	}
	receipt := mustCLI(t, m, admin, "audit", "receipt", key.KeyID)
	// A receipt for an event after that checkpoint: another is signed,
	// no sooner than a second after the first.
	mustCLI(t, m, admin, "key", "issue", "--name", "later")
	if out := mustCLI(t, m, admin, "audit", "prove", fmt.Sprint(page.Entries[0].Seq+2)); !strings.Contains(out, "checkpoint") {
		t.Fatalf("audit prove of the newest event: %s", out)
	}
	cps := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "audit.checkpoint", "--json"))
	if len(cps.Entries) != 2 {
		t.Fatalf("%d checkpoints after two receipts signed on demand; want 2", len(cps.Entries))
	}
	if d := cps.Entries[0].At.Sub(cps.Entries[1].At); d < time.Second {
		t.Fatalf("two checkpoints signed on demand %s apart; want at least 1 s", d)
	}
	// A checkpoint waits for the next one: asking for the newest event, a
	// checkpoint, must not append another each time.
	mustFail(t, m, admin, "unavailable", "audit", "prove", fmt.Sprint(cps.Entries[0].Seq))
	if again := decodeJSON[keyledger.AuditPage](t, mustCLI(t, m, admin, "audit", "list", "--action", "audit.checkpoint", "--json")); len(again.Entries) != 2 {
		t.Fatalf("%d checkpoints after proving the newest checkpoint; want still 2", len(again.Entries))
	}
	mustFail(t, m, admin, "not_found", "audit", "prove", "999999")
	file := filepath.Join(t.TempDir(), "receipt.json")
	writeFile(t, file, receipt)
	// It says what it proves: the revocation of that key, not just a seq.
	if out, errOut, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", file, "--public-key", pub); code != 0 ||
		!strings.Contains(out, "receipt holds") || !strings.Contains(out, "the event: KeyRevoked of key "+key.KeyID) {
		t.Fatalf("check-receipt offline: exit %d %s %s", code, out, errOut)
	}
	altered := filepath.Join(t.TempDir(), "altered.json")
	writeFile(t, altered, strings.Replace(receipt, `"seq": `, `"seq": 1`, 1))
	if _, _, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", altered, "--public-key", pub); code == 0 {
		t.Fatal("an altered receipt holds")
	}
	if _, _, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", file, "--public-key", filepath.Join(dir, "audit.key")); code == 0 {
		t.Fatal("check-receipt took a private key file")
	}

	if _, errOut, code := cli(t, m, admin, "audit", "verify", "--data", dir); code == 0 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "gateway credential") {
		t.Fatalf("verify with an API key (cannot read the stream): exit %d %s", code, errOut)
	}
	cred := filepath.Join(t.TempDir(), "gw.cred")
	var gwOut, gwErr strings.Builder
	if code := Run(context.Background(), []string{"gateway-credentials", "--name", "auditor", "--data", dir, "--out", cred}, &gwOut, &gwErr); code != 0 {
		t.Fatalf("gateway-credentials: %d %s", code, gwErr.String())
	}
	admin = cred // verify reads the stream with a gateway credential
	if out := mustCLI(t, m, admin, "audit", "verify", "--data", dir); !strings.Contains(out, "audit trail holds") {
		t.Fatalf("verify: %s", out)
	}
	// A mistyped --data does not pass with the rows unchecked.
	mustFail(t, m, admin, "invalid", "audit", "verify", "--data", t.TempDir(), "--public-key", pub)
	if _, err := m.db.SQL().Exec(`UPDATE audit_events SET detail = '{"reason":"routine"}' WHERE action = 'key.revoked'`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, m, admin, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "DIVERGES at seq "+itoa(page.Entries[0].Seq)+" (row_content)") {
		t.Fatalf("verify of an edited row: exit %d: %s", code, errOut)
	}
}

// TestInstancesCoSignCheckpoints runs two instances on one NATS server,
// sharing the log's key: each co-signs the checkpoint as a witness with a
// key of its own, a receipt carries both signatures, check-receipt counts
// the witnesses a checker names, and verify reports them.
func TestInstancesCoSignCheckpoints(t *testing.T) {
	ns := natstest.RunServer(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	mod := func(m *Main) { m.NATSURL, m.CheckpointEvery, m.CheckpointInterval = ns.ClientURL(), 8, time.Hour }
	a := run(t, newMain(dirs[0], mod))
	logKey, err := os.ReadFile(filepath.Join(dirs[0], "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dirs[1], "audit.key"), string(logKey)) // as the README says: copy it before first start
	b := run(t, newMain(dirs[1], mod))
	admin := filepath.Join(dirs[0], "admin.token")
	mustCLI(t, a, admin, "settings", "set", "--enabled")
	key := decodeJSON[keyJSON](t, mustCLI(t, a, admin, "key", "issue", "--name", "ci", "--json"))
	mustCLI(t, b, admin, "key", "revoke", key.KeyID, "--reason", "leaked")
	for i := range 8 {
		mustCLI(t, a, admin, "key", "issue", "--name", fmt.Sprint("filler-", i))
	}
	// Wait until both witnesses co-signed the newest checkpoint.
	size := func(e *keyledger.AuditEntry) (v struct{ Size uint64 }) {
		if err := json.Unmarshal(e.Detail, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	deadline := time.Now().Add(15 * time.Second)
	for n := 0; n < 2; {
		cps := decodeJSON[keyledger.AuditPage](t, mustCLI(t, a, admin, "audit", "list", "--action", "audit.checkpoint", "--json"))
		cos := decodeJSON[keyledger.AuditPage](t, mustCLI(t, a, admin, "audit", "list", "--action", "audit.cosigned", "--json"))
		n = 0
		for _, e := range cos.Entries {
			if len(cps.Entries) > 0 && size(e) == size(cps.Entries[0]) {
				n++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d co-signatures of the newest checkpoint 15 s after it; want one per instance", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	keys := t.TempDir()
	pub, wa, wb, wc := filepath.Join(keys, "log.pub"), filepath.Join(keys, "a.witness"), filepath.Join(keys, "b.witness"), filepath.Join(keys, "c.witness")
	writeFile(t, pub, mustCLI(t, a, admin, "audit", "pubkey", "--data", dirs[0]))
	writeFile(t, wa, mustCLI(t, a, admin, "audit", "pubkey", "--witness", "--data", dirs[0]))
	writeFile(t, wb, mustCLI(t, a, admin, "audit", "pubkey", "--witness", "--data", dirs[1]))
	if wka, wkb := readTrim(t, wa), readTrim(t, wb); wka == wkb || !strings.HasPrefix(wka, "keyledger/KEYLEDGER/witness/") {
		t.Fatalf("witness keys %q and %q: want one per instance, named after the log", wka, wkb)
	}
	_, third, err := audit.LoadOrCreateWitnessKey(filepath.Join(keys, "c.key"), audit.Origin+"/witness/other")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, wc, third)
	receipt := filepath.Join(keys, "revoked.json")
	writeFile(t, receipt, mustCLI(t, a, admin, "audit", "receipt", key.KeyID))
	check := func(args ...string) (string, string, int) {
		return cliAt("nats://127.0.0.1:1", "/nonexistent", append([]string{"audit", "check-receipt", receipt, "--public-key", pub}, args...)...)
	}
	if out, errOut, code := check("--witness-key", wa, "--witness-key", wb); code != 0 || !strings.Contains(out, "co-signed by 2 of 2 witnesses") {
		t.Fatalf("check-receipt with both witnesses: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := check("--witness-key", wa, "--witness-key", wc); code == 0 || !strings.Contains(errOut, "co-signed by 1 of the witnesses given") {
		t.Fatalf("check-receipt naming a witness that did not sign: exit %d %s", code, errOut)
	}
	if out, errOut, code := check("--witness-key", wa, "--witness-key", wc, "--min-witnesses", "1"); code != 0 {
		t.Fatalf("check-receipt needing 1 of 2: exit %d %s %s", code, out, errOut)
	}
	for _, bad := range [][]string{{"--witness-key", wa, "--min-witnesses", "0"}, {"--witness-key", wa, "--min-witnesses", "-1"}, {"--min-witnesses", "1"}} {
		if _, errOut, code := check(bad...); code != 2 || !strings.Contains(errOut, "--min-witnesses") {
			t.Fatalf("check-receipt %v: exit %d %s; want a usage error", bad, code, errOut)
		}
	}
	if out, errOut, code := check("--witness-key", wa, "--witness-key", wa); code != 0 || !strings.Contains(out, "co-signed by 1 of 1 witnesses") {
		t.Fatalf("the same witness twice: exit %d %s %s; want it counted once", code, out, errOut)
	}
	if _, errOut, code := check("--witness-key", pub); code == 0 || !strings.Contains(errOut, "the log's own key") {
		t.Fatalf("the log's own key as a witness: exit %d %s", code, errOut)
	}
	res, err := http.Get(b.http.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), "keyledger_audit_witness_ok 1") || !strings.Contains(string(metrics), "keyledger_audit_witness_cosigned_size ") {
		t.Fatalf("/metrics has no healthy witness:\n%s", metrics)
	}
	cred := filepath.Join(keys, "gw.cred")
	if code := Run(context.Background(), []string{"gateway-credentials", "--name", "auditor", "--data", dirs[0], "--out", cred}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("gateway-credentials: %d", code)
	}
	out := mustCLI(t, a, cred, "audit", "verify", "--data", dirs[0])
	for _, w := range []string{readTrim(t, wa), readTrim(t, wb)} {
		if !strings.Contains(out, "witness "+w+" co-signed 1 checkpoints") {
			t.Fatalf("verify does not report witness %s:\n%s", w, out)
		}
	}
	// An auditor pins the witnesses they trust: the log must hold a
	// checkpoint that enough of them co-signed.
	verify := func(args ...string) (string, string, int) {
		return cli(t, a, cred, append([]string{"audit", "verify", "--data", dirs[0]}, args...)...)
	}
	if out, errOut, code := verify("--witness-key", wa, "--witness-key", wb); code != 0 || !strings.Contains(out, "witnessed: 2 of the 2 witnesses given co-signed the checkpoint of size") {
		t.Fatalf("verify pinning both witnesses: exit %d %s %s", code, out, errOut)
	}
	if out, errOut, code := verify("--witness-key", wa, "--witness-key", wc); code == 0 || !strings.Contains(errOut, "NOT witnessed") {
		t.Fatalf("verify pinning a witness that never co-signed: exit %d %s %s", code, out, errOut)
	}
	if out, errOut, code := verify("--witness-key", wa, "--witness-key", wc, "--min-witnesses", "1"); code != 0 || !strings.Contains(out, "witnessed: 1 of the 2") {
		t.Fatalf("verify needing 1 of 2: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := verify("--witness-key", pub); code == 0 || !strings.Contains(errOut, "the log's own key") {
		t.Fatalf("verify with the log's key as a witness: exit %d %s", code, errOut)
	}
	if _, errOut, code := verify("--min-witnesses", "1"); code != 2 || !strings.Contains(errOut, "--witness-key") {
		t.Fatalf("verify --min-witnesses without keys: exit %d %s", code, errOut)
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestServeRefusesAWitnessKeyFileItCannotRead: --witness-key names files
// of witnesses' verifier keys; a missing one, one holding a private key, or
// the log's own key stops the start with a message naming the flag.
func TestServeRefusesAWitnessKeyFileItCannotRead(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(t.TempDir(), "w.key")
	if _, _, err := audit.LoadOrCreateWitnessKey(private, audit.Origin+"/witness/w"); err != nil {
		t.Fatal(err)
	}
	logPub := filepath.Join(t.TempDir(), "log.pub")
	_, logKey, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), audit.Origin)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, logPub, logKey)
	for _, file := range []string{filepath.Join(dir, "missing.witness"), private, logPub} {
		m := newMain(t.TempDir(), func(m *Main) { m.WitnessKeyFiles = []string{file} })
		err := m.Run(context.Background())
		if err == nil {
			m.Close()
			t.Fatalf("serve --witness-key %s started", file)
		}
		m.Close()
		if !strings.Contains(err.Error(), "--witness-key") {
			t.Fatalf("serve --witness-key %s: %v", file, err)
		}
	}
}

// TestReceiptWaitsForWitnesses: right after a revocation no witness has
// co-signed a checkpoint covering it; receipt --min-witnesses 1 fetches the
// receipt until the instance's witness has, and check-receipt with that
// witness's key then holds. More witnesses than there are fail with
// unavailable once --wait has passed.
func TestReceiptWaitsForWitnesses(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, func(m *Main) { m.CheckpointEvery, m.CheckpointInterval = 1_000_000, time.Hour }))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	key := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "ci", "--json"))
	mustCLI(t, m, admin, "key", "revoke", key.KeyID, "--reason", "leaked")
	out := mustCLI(t, m, admin, "audit", "receipt", key.KeyID, "--min-witnesses", "1")
	r, err := audit.ParseReceipt([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cosigners()) != 1 {
		t.Fatalf("receipt --min-witnesses 1 carries co-signatures by %v", r.Cosigners())
	}
	keys := t.TempDir()
	pub, wit, file := filepath.Join(keys, "log.pub"), filepath.Join(keys, "a.witness"), filepath.Join(keys, "revoked.json")
	writeFile(t, pub, mustCLI(t, m, admin, "audit", "pubkey", "--data", dir))
	writeFile(t, wit, mustCLI(t, m, admin, "audit", "pubkey", "--witness", "--data", dir))
	writeFile(t, file, out)
	if out, errOut, code := cliAt("nats://127.0.0.1:1", "/nonexistent", "audit", "check-receipt", file, "--public-key", pub, "--witness-key", wit); code != 0 {
		t.Fatalf("check-receipt with the witness: exit %d %s %s", code, out, errOut)
	}
	mustFail(t, m, admin, "unavailable", "audit", "receipt", key.KeyID, "--min-witnesses", "2", "--wait", "500ms")
	mustFail(t, m, admin, "invalid", "audit", "receipt", key.KeyID, "--min-witnesses", "-1")
}

// TestAuditTraceShowsUsePerHour: a key's trace reports its verifications
// per hour, valid and refused by reason, with the addresses gateways
// named, in the readable report and in --json.
func TestAuditTraceShowsUsePerHour(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "traced", "--scope", "read", "--json"))
	for i, body := range []string{
		`{"key":%q,"scope":"read","ip":"10.0.0.7"}`, `{"key":%q,"scope":"read","ip":"10.0.0.7"}`, `{"key":%q,"scope":"read","ip":"10.0.0.7"}`,
		`{"key":%q,"scope":"write","ip":"203.0.113.9"}`, `{"key":%q,"scope":"write","ip":"203.0.113.9"}`,
	} {
		if code, res := verifyHTTP(t, m, fmt.Sprintf(body, k.Token), ""); code != 200 || res.Valid != (i < 3) {
			t.Fatalf("verify %d: %d %+v", i, code, res)
		}
	}
	m.Close() // flushes the usage records
	m = run(t, newMain(dir, nil))
	var tr keyledger.KeyTrace
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tr = decodeJSON[keyledger.KeyTrace](t, mustCLI(t, m, admin, "audit", "trace", k.KeyID, "--json"))
		if len(tr.Usage) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(tr.Usage) == 2 { // the verifications straddled the hour
		t.Skip("the verifications fell into two hours; the sums per hour are TestTraceSumsUseByHourWithSources's")
	}
	if len(tr.Usage) != 1 || tr.Usage[0].Counts != (keyledger.UsageCounts{Valid: 3, MissingScope: 2}) ||
		fmt.Sprint(tr.Usage[0].Sources) != "[{10.0.0.7 3} {203.0.113.9 2}]" || tr.Owner == "" || len(tr.Entries) == 0 {
		t.Fatalf("trace: %+v", tr)
	}
	report := mustCLI(t, m, admin, "audit", "trace", k.KeyID)
	for _, want := range []string{"key " + k.KeyID + ` "` + tr.KeyName + `", owner ` + tr.OwnerName + " (" + tr.Owner + ")", "key.issued", "verifications per hour", "10.0.0.7 ×3, 203.0.113.9 ×2", "2 (2 missing_scope)"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}

// TestReceiptSaysWhenTheKeyCameBack: a receipt proves a key's latest
// revocation; when the key was regenerated since, the auditor is told it
// is active again. A key that ended another way has no revocation, and
// the refusal says where to look.
func TestReceiptSaysWhenTheKeyCameBack(t *testing.T) {
	dir := t.TempDir()
	m := run(t, newMain(dir, nil))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "back", "--json"))
	mustCLI(t, m, admin, "key", "revoke", k.KeyID, "--reason", "leaked")
	if _, errOut, code := cli(t, m, admin, "audit", "receipt", k.KeyID); code != 0 || strings.Contains(errOut, "note:") {
		t.Fatalf("receipt of a revoked key: exit %d %s", code, errOut)
	}
	mustCLI(t, m, admin, "key", "regenerate", k.KeyID)
	if _, errOut, code := cli(t, m, admin, "audit", "receipt", k.KeyID); code != 0 || !strings.Contains(errOut, "the key is active now") {
		t.Fatalf("receipt of a regenerated key: exit %d %s; want a note that it is active", code, errOut)
	}
	gone := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "gone", "--json"))
	mustCLI(t, m, admin, "key", "delete", gone.KeyID)
	if _, errOut, code := cli(t, m, admin, "audit", "receipt", gone.KeyID); code == 0 || !strings.Contains(errOut, "audit trace "+gone.KeyID) {
		t.Fatalf("receipt of a deleted key: exit %d %s; want where to look", code, errOut)
	}
}

// audit verify of a log nobody has signed yet holds (the tree and the rows
// match), but says that nothing proves it to anyone else yet: "0
// checkpoints verified" read as a pass to an operator.
func TestAuditVerifySaysWhenNothingIsSigned(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir, func(m *Main) { m.CheckpointEvery, m.CheckpointInterval = 1<<40, time.Hour })
	cred := filepath.Join(t.TempDir(), "gw.cred")
	var gwOut, gwErr strings.Builder
	if code := Run(context.Background(), []string{"gateway-credentials", "--name", "auditor", "--data", dir, "--out", cred}, &gwOut, &gwErr); code != 0 {
		t.Fatalf("gateway-credentials: %d %s", code, gwErr.String())
	}
	out := mustCLI(t, m, cred, "audit", "verify", "--data", dir)
	if !strings.Contains(out, "audit trail holds") || !strings.Contains(out, "0 checkpoints") || !strings.Contains(out, "no checkpoint is signed yet") {
		t.Fatalf("verify of an unsigned log:\n%s", out)
	}
}
