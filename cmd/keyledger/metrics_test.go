package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and returns each sample by its name and labels as
// Prometheus prints them: `keyledger_keys{status="active"}`.
func scrape(t *testing.T, m *Main) map[string]float64 {
	t.Helper()
	res, err := http.Get(m.http.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("/metrics: %d %s", res.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case mt.Counter != nil:
				out[key] = mt.Counter.GetValue()
			case mt.Gauge != nil:
				out[key] = mt.Gauge.GetValue()
			case mt.Histogram != nil:
				out[key+"_count"] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// A known workload shows up in /metrics: commands by result code, keys by
// status, the stream's position, the projection caught up, the index size.
func TestMetricsCountAKnownWorkload(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	var ids []string
	for i := range 3 {
		k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", fmt.Sprint("k", i), "--json"))
		ids = append(ids, k.KeyID)
	}
	mustCLI(t, m, admin, "key", "revoke", ids[0])
	mustFail(t, m, admin, "not_found", "key", "show", "01J00000000000000000000000")
	req, _ := http.NewRequest(http.MethodPost, m.http.URL()+"/v1/query/keys", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer kl_nonsense")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("a bad token over HTTP: %v %v", res, err)
	}
	for _, body := range []string{`{"key":"` + decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "v", "--json")).Token + `"}`, `{"key":"kl_nonsense"}`} {
		res, err := http.Post(m.http.URL()+"/v1/verify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// Commands reply before SQLite holds them; /metrics reads SQLite as it is.
	got := scrape(t, m)
	for deadline := time.Now().Add(5 * time.Second); got[`keyledger_projection_lag_events{projection="ledger"}`] != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got = scrape(t, m)
	}
	for name, want := range map[string]float64{
		`keyledger_verifications_total{code="valid"}`:                                                 1,
		`keyledger_verifications_total{code="malformed"}`:                                             1,
		`keyledger_requests_total{code="ok",endpoint="cmd.key.issue"}`:                                4,
		`keyledger_requests_total{code="ok",endpoint="cmd.key.revoke"}`:                               1,
		`keyledger_requests_total{code="ok",endpoint="cmd.settings.set"}`:                             1,
		`keyledger_requests_total{code="not_found",endpoint="query.key"}`:                             1,
		`keyledger_requests_total{code="unauthenticated",endpoint="query.keys"}`:                      1,
		`keyledger_keys{status="active"}`:                                                             4, // 3 issued + the bootstrap key
		`keyledger_keys{status="revoked"}`:                                                            1,
		`keyledger_verify_index_keys`:                                                                 5,
		`keyledger_nats_connected`:                                                                    1,
		`keyledger_projection_lag_events{projection="ledger"}`:                                        0,
		`keyledger_http_request_duration_seconds{code="200",method="get",route="GET /healthz"}_count`: 0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	// Each of the 6 commands waited for the disk, and waits were served by
	// fsync rounds: at least one, at most one per wait (projected batches
	// wait too).
	waits, rounds := got[`keyledger_groupcommit_waits_total{stream="KEYLEDGER"}`], got[`keyledger_groupcommit_fsync_rounds_total{stream="KEYLEDGER"}`]
	if waits < 6 || rounds < 1 || rounds > waits {
		t.Errorf("group commit: %v waits in %v fsync rounds, want at least 6 waits and between 1 and as many rounds", waits, rounds)
	}
	if _, ok := got["keyledger_audit_checkpoint_age_seconds"]; ok {
		t.Error("a checkpoint age before any checkpoint was signed")
	}
	if seq := got["keyledger_stream_last_seq"]; seq < 7 {
		t.Errorf("keyledger_stream_last_seq = %v; the workload stored at least 7 events", seq)
	}
	for range 2 {
		if res, err := http.Get(m.http.URL() + "/healthz"); err == nil {
			res.Body.Close()
		}
	}
	got = scrape(t, m)
	if n := got[`keyledger_http_request_duration_seconds{code="200",method="get",route="GET /healthz"}_count`]; n != 2 {
		t.Errorf("/healthz timed %v times, want 2", n)
	}
}

// key revoke with a filter lists, then revokes, every active key it matches.
func TestCLIRevokesByFilter(t *testing.T) {
	m := MustRunMain(t, "")
	admin := filepath.Join(m.DataDir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	mustCLI(t, m, admin, "user", "add", "carol", "--role", "developer")
	for i := range 3 {
		mustCLI(t, m, admin, "key", "issue", "--owner", "carol", "--name", fmt.Sprint("c", i))
	}
	out := mustCLI(t, m, admin, "key", "revoke", "--owner", "carol", "--dry-run")
	if strings.Count(out, "matched ") != 3 || !strings.Contains(out, "nothing was revoked") {
		t.Fatalf("dry run printed:\n%s", out)
	}
	out = mustCLI(t, m, admin, "key", "revoke", "--owner", "carol", "--reason", "offboarding")
	if strings.Count(out, "revoked ") != 3 {
		t.Fatalf("revoke printed:\n%s", out)
	}
	if out := mustCLI(t, m, admin, "key", "list", "--owner", "carol", "--status", "active"); strings.Contains(out, "c0") {
		t.Fatalf("carol still has active keys:\n%s", out)
	}
	_, errOut, code := cli(t, m, admin, "key", "revoke", "--dry-run")
	if code != 2 || !strings.Contains(errOut, "--help") {
		t.Fatalf("--dry-run without a filter: exit %d, %q", code, errOut)
	}
}

// /metrics tells how old the newest signed audit checkpoint is.
func TestCheckpointAgeInMetrics(t *testing.T) {
	m := run(t, newMain(t.TempDir(), func(m *Main) { m.CheckpointEvery = 1 }))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if age, ok := scrape(t, m)["keyledger_audit_checkpoint_age_seconds"]; ok {
			if age < 0 || age > 60 {
				t.Fatalf("checkpoint age %v s right after the first checkpoint", age)
			}
			return
		}
	}
	t.Fatal("no keyledger_audit_checkpoint_age_seconds 10 s after start with a checkpoint every event")
}
