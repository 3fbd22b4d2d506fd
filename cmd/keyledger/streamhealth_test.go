package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	kclient "github.com/keyledger/keyledger/client"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/natstest"
)

// When the disk under the event stream fills up, nats-server stops
// answering appends to it until it restarts. Before, every command then
// waited for its timeout ("the event store did not answer in time") and
// /readyz said ready; now the instance says which stream cannot be written,
// refuses commands at once without storing anything, keeps verifying, and
// a restart once the cause is gone finds everything stored before.
func TestAStreamThatCannotBeWrittenSaysSo(t *testing.T) {
	dir := t.TempDir()
	var logs syncWriter
	m := MustRunMain(t, dir, func(m *Main) {
		m.StreamCheckEvery = 50 * time.Millisecond
		m.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	kept := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "kept", "--json"))

	if n := natstest.FailWrites(t, "KEYLEDGER"); n == 0 {
		t.Fatal("found no open message block of stream KEYLEDGER")
	}
	// The first write that fails goes unanswered: the server does not say.
	// Once the stream is found unwritable the command stops waiting, and
	// says its write was not answered (or the CLI's second ran out first).
	if out, errOut, code := cli(t, m, admin, "key", "issue", "--name", "lost", "--timeout", "1s"); code == 0 {
		t.Fatalf("issue on a full disk succeeded: %s", out)
	} else if !strings.Contains(errOut, "this command's write went unanswered") && !strings.Contains(errOut, "deadline exceeded") {
		t.Fatalf("the write that failed: %s; want it said to have gone unanswered", errOut)
	}
	reason := waitReadyz(t, m, http.StatusServiceUnavailable)
	if !strings.Contains(reason, "stream KEYLEDGER cannot store events") || strings.Contains(reason, dir) {
		t.Fatalf("/readyz reason %q; want the stream named, and no path", reason)
	}
	res, err := http.Get(m.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(res.Body)
	res.Body.Close()
	for _, want := range []string{`keyledger_stream_writable{stream="KEYLEDGER"} 0`, `keyledger_stream_writable{stream="KEYLEDGER_USAGE"} 1`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Every later command is refused at once, and says why.
	for _, args := range [][]string{
		{"key", "issue", "--name", "after"},
		{"key", "revoke", kept.KeyID, "--reason", "x"},
		{"settings", "set", "--max-active-keys", "7"},
	} {
		start := time.Now()
		_, errOut, code := cli(t, m, admin, append(args, "--timeout", "10s")...)
		if code == 0 || !strings.Contains(errOut, "error: unavailable: the event store cannot store events until keyledger is restarted") {
			t.Errorf("keyledger %s: exit %d, %q; want unavailable naming the restart", strings.Join(args, " "), code, errOut)
		}
		t.Logf("%s refused in %v", args[1], time.Since(start))
	}
	// So is every request over NATS, whichever of the endpoint's workers it
	// reaches: before, the worker that sent the write that failed waited
	// for an answer until its request timed out, and a command routed to
	// it (one in 16) waited that long too.
	tok := adminToken(t, m)
	kc := kclient.New(connectAs(t, m, tok))
	kc.Attempts = 1
	var nwg sync.WaitGroup
	for i := range 4 * commands.DefaultWorkers {
		nwg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := kc.Call(ctx, "cmd.key.issue", tok, "", commands.IssueKey{Name: fmt.Sprintf("nats %d", i)}, nil)
			if keyledger.ErrorCode(err) != keyledger.EUnavailable {
				t.Errorf("issue %d over NATS on an unwritable stream: %v", i, err)
			}
		})
	}
	nwg.Wait()
	// And so are thousands, 16 at a time on one owner: none waits for the
	// turn of the command whose write was never answered.
	actor, err := m.service.Authenticate(context.Background(), "Bearer "+adminToken(t, m))
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 125 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := m.service.IssueKey(ctx, actor, "", commands.IssueKey{Name: fmt.Sprintf("flood %d.%d *>", w, i)})
				cancel()
				if keyledger.ErrorCode(err) == keyledger.EUnavailable && strings.Contains(err.Error(), "cannot store events until keyledger is restarted") {
					refused.Add(1)
				} else {
					t.Errorf("issue %d.%d on an unwritable stream: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if refused.Load() != 2000 {
		t.Fatalf("%d of 2,000 issues refused at once", refused.Load())
	}
	log := logs.String()
	if !strings.Contains(log, "the event store cannot write this stream") || !strings.Contains(log, "stream=KEYLEDGER") ||
		!strings.Contains(log, "no space left on device") || strings.Contains(log, kept.Token) {
		t.Errorf("log lacks the stream and its cause (or holds a secret):\n%s", log)
	}
	// Verification goes on from memory.
	res, err = http.Post(m.HTTPURL()+"/v1/verify", "application/json", strings.NewReader(`{"key":"`+kept.Token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(body.String(), `"valid":true`) {
		t.Errorf("verify while the stream cannot be written: %s", body.String())
	}

	// A restart (with room on the disk again) finds what was stored, and
	// nothing that was refused.
	m.Close()
	m = MustRunMain(t, dir)
	waitReadyz(t, m, http.StatusOK)
	list := mustCLI(t, m, admin, "key", "list")
	if !strings.Contains(list, "kept") || strings.Contains(list, "lost") || strings.Contains(list, "after") {
		t.Fatalf("keys after the restart:\n%s", list)
	}
	mustCLI(t, m, admin, "key", "issue", "--name", "after")
}
