package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/nats.go/jetstream"
)

// readyz returns /readyz's status and reason.
func readyz(t *testing.T, m *Main) (int, string) {
	t.Helper()
	res, err := http.Get(m.HTTPURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Reason string }
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Reason
}

// waitReadyz polls /readyz until it answers status, and returns its reason.
func waitReadyz(t *testing.T, m *Main, status int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, reason := readyz(t, m)
		if got == status {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d (%s); want %d", got, reason, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishRaw stores data on subject, bypassing keyledger, and returns its
// sequence: what a buggy or hostile publisher could do.
func publishRaw(t *testing.T, m *Main, subject string, data []byte) uint64 {
	t.Helper()
	ack, err := jetStreamAt(t, m.ClientURL()).Publish(context.Background(), subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func TestJunkEventHaltsLoudlyKeepsServingAndSkipGetsPastIt(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	admin := filepath.Join(dir, "admin.token")
	keyID, token := issued(t, m, admin, "--name", "gateway")

	owner := decodeJSON[struct {
		Owner string `json:"owner"`
	}](t, mustCLI(t, m, admin, "key", "show", keyID, "--json")).Owner
	// Junk in the key owner's own subjects: after the skip, commands on
	// that owner must still find their way past it.
	junk := publishRaw(t, m, "keyledger.events.user."+owner+"."+keyID+".revoked", []byte("\x00junk{"))
	reason := waitReadyz(t, m, 503)
	if !strings.Contains(reason, fmt.Sprintf("projection ledger halted at stream sequence %d", junk)) || !strings.Contains(reason, "cannot decode") {
		t.Fatalf("/readyz reason %q; want the projection, sequence and reason", reason)
	}

	if mx := metricsText(t, m); !strings.Contains(mx, fmt.Sprintf(`keyledger_projection_halted_seq{projection="ledger"} %d`, junk)) {
		t.Fatalf("/metrics does not show the halt:\n%s", grepLines(mx, "keyledger_projection"))
	}
	// Commands are refused at once, saying why; nothing is appended.
	before := streamLastSeq(t, m.ClientURL())
	start := time.Now()
	_, errOut, code := cli(t, m, admin, "key", "revoke", keyID)
	if code == 0 || !strings.Contains(errOut, "error: unavailable:") || !strings.Contains(errOut, "halted at stream sequence") ||
		time.Since(start) > 3*time.Second {
		t.Fatalf("a command while halted: exit %d after %v: %s", code, time.Since(start), errOut)
	}
	if after := streamLastSeq(t, m.ClientURL()); after != before {
		t.Fatalf("a refused command appended: stream went from %d to %d", before, after)
	}
	// Verification from the index and queries still answer.
	if status, res := verifyHTTP(t, m, `{"key":"`+token+`"}`, ""); status != 200 || !res.Valid {
		t.Fatalf("verify while halted: %d %+v", status, res)
	}
	mustCLI(t, m, admin, "key", "show", keyID)

	// The server restarts into the same halt instead of dying.
	m.Close()
	m = MustRunMain(t, dir)
	waitReadyz(t, m, 503)
	select {
	case err := <-m.Done():
		t.Fatalf("server stopped on its own: %v", err)
	case <-time.After(200 * time.Millisecond):
	}

	// Only the halting event may be skipped, only with a reason (the
	// authorization matrix holds it to admins).
	seq := fmt.Sprint(junk)
	mustFail(t, m, admin, "invalid", "admin", "skip-event", seq)
	mustFail(t, m, admin, "conflict", "admin", "skip-event", fmt.Sprint(junk+100), "--reason", "not this one")
	out := mustCLI(t, m, admin, "admin", "skip-event", seq, "--reason", "junk written by a test")
	if !strings.Contains(out, "skipped event "+seq) {
		t.Fatalf("skip-event output: %s", out)
	}
	waitReadyz(t, m, 200)
	mustCLI(t, m, admin, "key", "revoke", keyID)
	if _, res := verifyHTTP(t, m, `{"key":"`+token+`"}`, ""); res.Valid || res.Code != "revoked" {
		t.Fatalf("verify after the revoke: %+v", res)
	}

	// The stream was never rewritten: the junk is still there, and the
	// skip is an event naming who, what and why.
	st, err := jetStreamAt(t, m.ClientURL()).Stream(context.Background(), "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetMsg(context.Background(), junk)
	if err != nil || !bytes.Equal(raw.Data, []byte("\x00junk{")) {
		t.Fatalf("junk at %d: %v %q", junk, err, raw.Data)
	}
	last, err := st.GetLastMsgForSubject(context.Background(), events.SubjectOps)
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(last.Data)
	skip, ok := e.(*events.EventSkipped)
	if err != nil || !ok || skip.Seq != junk || skip.Reason != "junk written by a test" || skip.Actor == "" {
		t.Fatalf("stored skip: %+v %v", e, err)
	}
}

func TestKeyRenamedForAMissingKeyDoesNotKillTheServer(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	ghost := &events.KeyRenamed{Meta: events.Meta{At: time.Now().UTC(), Actor: "x"},
		KeyID: "01J0000000000000000000000K", Owner: "01J0000000000000000000000U", Name: "ghost"}
	data, _ := events.Encode(ghost)
	bad := publishRaw(t, m, events.Subject(ghost), data)
	if reason := waitReadyz(t, m, 503); !strings.Contains(reason, fmt.Sprintf("sequence %d", bad)) {
		t.Fatalf("reason %q", reason)
	}
	select {
	case err := <-m.Done():
		t.Fatalf("server stopped: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if res, err := http.Get(m.HTTPURL() + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz while halted: %v", err)
	}
}

func TestUsageJunkIsSkippedAndKeepsReadiness(t *testing.T) {
	m := MustRunMain(t, "")
	publishRaw(t, m, "keyledger.usage.01J0000000000000000000000K", []byte("garbage"))
	publishRaw(t, m, "keyledger.usage.>.x", []byte(`{"type":"KeyIssued","v":1}`))
	deadline := time.Now().Add(10 * time.Second)
	for m.usage.Skipped() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // nothing more is counted
	if n := m.usage.Skipped(); n != 2 {
		t.Fatalf("usage projection skipped %d records; want the 2 stored", n)
	}
	if status, reason := readyz(t, m); status != 200 {
		t.Fatalf("usage junk made /readyz %d: %s", status, reason)
	}
	if mx := metricsText(t, m); !strings.Contains(mx, `keyledger_projection_skipped_total{projection="usage"} 2`) ||
		!strings.Contains(mx, `keyledger_projection_halted_seq{projection="usage"} 0`) {
		t.Fatalf("/metrics does not count the skipped records:\n%s", grepLines(mx, "keyledger_projection"))
	}
}

func TestServeRefusesAChangedStreamUnlessToldToRestoreIt(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	js := jetStreamAt(t, m.ClientURL())
	st, err := js.Stream(context.Background(), "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = 1_000_000
	cfg.RePublish = &jetstream.RePublish{Source: "keyledger.events.>", Destination: "spy.>"}
	if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	m.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Run(ctx, []string{"serve", "--data", dir, "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "max_msgs: want unlimited, have 1000000") ||
		!strings.Contains(errOut.String(), "republish: want none, have keyledger.events.> -> spy.>") ||
		!strings.Contains(errOut.String(), "--restore-stream-config") {
		t.Fatalf("serve on a changed stream: exit %d, stderr %s", code, errOut.String())
	}

	var logs bytes.Buffer
	m = run(t, newMain(dir, func(m *Main) {
		m.RestoreStreamConfig = true
		m.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}))
	if !strings.Contains(logs.String(), "restored stream configuration") || !strings.Contains(logs.String(), "field=max_msgs") ||
		!strings.Contains(logs.String(), "field=republish") {
		t.Fatalf("restoration not logged:\n%s", logs.String())
	}
	st, _ = jetStreamAt(t, m.ClientURL()).Stream(context.Background(), "KEYLEDGER")
	if c := st.CachedInfo().Config; c.MaxMsgs != -1 || c.RePublish != nil {
		t.Fatalf("stream after restore: max_msgs %d, republish %v", c.MaxMsgs, c.RePublish)
	}
}

func TestServeRefusesAStreamThatLostHistory(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	applied := streamLastSeq(t, m.ClientURL())
	m.Close()
	// The JetStream store is lost (or replaced); ledger.db remembers more.
	if err := os.RemoveAll(filepath.Join(dir, "nats")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errOut bytes.Buffer
	code := Run(ctx, []string{"serve", "--data", dir, "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, io.Discard, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), fmt.Sprintf("ends at sequence 0, but ledger.db has applied up to %d", applied)) {
		t.Fatalf("serve over an erased stream: exit %d, stderr %s", code, errOut.String())
	}
}

// metricsText returns what /metrics serves.
func metricsText(t *testing.T, m *Main) string {
	t.Helper()
	res, err := http.Get(m.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return string(data)
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
