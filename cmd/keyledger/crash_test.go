package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/projections"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain lets the test binary run as a keyledger server child process,
// so crash tests can kill -9 a real server.
func TestMain(m *testing.M) {
	if os.Getenv("KEYLEDGER_CRASH_CHILD") != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// holdFile, while it exists in the data directory, stops the child's
// projector after it wrote a batch and before it commits.
const holdFile = "hold-projection"

func crashChild() int {
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = os.Getenv("KEYLEDGER_DATA"), os.Getenv("KEYLEDGER_NATS"), "127.0.0.1:0"
	m.BeforeCommit = func(uint64) {
		for {
			if _, err := os.Stat(filepath.Join(m.DataDir, holdFile)); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	m.Close()
	return 0
}

type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, dir, addr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KEYLEDGER_CRASH_CHILD=1", "KEYLEDGER_DATA="+dir, "KEYLEDGER_NATS="+addr)
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "nats://" + addr}
	rememberDataDir(c.url, dir)
	t.Cleanup(func() { c.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, code := cliAt(c.url, filepath.Join(dir, "admin.token"), "settings", "show", "--timeout", "1s"); code == 0 {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("child server did not come up")
	return nil
}

// testWriter sends a child's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// jetStreamAt connects to the server at url for the rest of the test, as
// keyledger itself when the test started that server.
func jetStreamAt(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, serviceOptionAt(t, url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamLastSeq(t *testing.T, url string) uint64 {
	t.Helper()
	st, err := jetStreamAt(t, url).Stream(context.Background(), "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// dump renders every projected table of the SQLite file at path, in key
// order, for comparison.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM projection_state`, `SELECT * FROM settings`,
		`SELECT * FROM users ORDER BY user_id`, `SELECT * FROM keys ORDER BY key_id`,
	} {
		dumpRows(t, db, q, "", &b)
	}
	return b.String()
}

// dumpLedger is dump without what the usage projection adds (its position,
// and keys' last use): a usage flush at a minute's turn lands in the live
// file, which a rebuild of the ledger alone does not replay.
func dumpLedger(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(dump(t, path), "\n") {
		if !strings.HasPrefix(line, "[usage ") {
			b.WriteString(line)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used string
	if err := db.QueryRow(`SELECT group_concat(key_id || '=' || COALESCE(last_used_at, ''), ',') FROM keys`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, kv := range strings.Split(used, ",") {
		if _, at, ok := strings.Cut(kv, "="); ok && at != "" {
			out = strings.ReplaceAll(out, " "+at+" ", " <nil> ") // as a rebuild has it
		}
	}
	return out
}

// dumpRows writes every row q returns to b, one line each, after prefix;
// byte values are written as text.
func dumpRows(t *testing.T, db *sql.DB, q, prefix string, b *strings.Builder) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if raw, ok := v.([]byte); ok {
				vals[i] = string(raw) // text as text: the secrets test searches it
			}
		}
		fmt.Fprintf(b, "%s%v\n", prefix, vals)
	}
}

// rebuild projects the whole stream at url into a fresh file and returns its path.
func rebuild(t *testing.T, url string, upTo uint64) string {
	t.Helper()
	store := events.NewStore(jetStreamAt(t, url))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	db := projections.NewDB(filepath.Join(t.TempDir(), "rebuilt.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := projections.NewProjector(db, store)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	if err := p.WaitFor(ctx, upTo); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return db.Path
}

// TestKillNineLosesNothingAndAppliesNothingTwice kills a real server with
// SIGKILL between JetStream's ack and the SQLite commit, and again in the
// middle of a burst of commands; after a restart its ledger.db must equal a
// rebuild of the stream from zero.
func TestKillNineLosesNothingAndAppliesNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	admin := filepath.Join(dir, "admin.token")
	c := startChild(t, dir, addr)
	if _, errOut, code := cliAt(c.url, admin, "settings", "set", "--enabled"); code != 0 {
		t.Fatal(errOut)
	}
	for i := range 5 {
		cliAt(c.url, admin, "key", "issue", "--name", fmt.Sprint("before-", i))
	}

	// 1: the event is stored and acknowledged; the projection holds it uncommitted.
	before := streamLastSeq(t, c.url)
	if err := os.WriteFile(filepath.Join(dir, holdFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	go cliAt(c.url, admin, "key", "issue", "--name", "held", "--timeout", "3s")
	for deadline := time.Now().Add(10 * time.Second); streamLastSeq(t, c.url) == before; {
		if time.Now().After(deadline) {
			t.Fatal("the held command was never stored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the projector reach the hold
	c.kill()
	if strings.Contains(dump(t, filepath.Join(dir, "ledger.db")), "held") {
		t.Fatal("the held key was committed before the kill; the test proves nothing")
	}
	os.Remove(filepath.Join(dir, holdFile))

	// 2: SIGKILL in the middle of a burst of commands.
	c = startChild(t, dir, addr)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { cliAt(c.url, admin, "key", "issue", "--name", fmt.Sprint("burst-", i), "--timeout", "3s") })
	}
	time.Sleep(30 * time.Millisecond)
	c.kill()
	wg.Wait()

	// Restart, catch up, and compare with a rebuild from zero.
	c = startChild(t, dir, addr)
	last := streamLastSeq(t, c.url)
	live := filepath.Join(dir, "ledger.db")
	for deadline := time.Now().Add(20 * time.Second); !strings.HasPrefix(dump(t, live), fmt.Sprintf("[ledger %d]", last)); {
		if time.Now().After(deadline) {
			t.Fatalf("restarted server did not catch up to %d", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, want := dumpLedger(t, live), dumpLedger(t, rebuild(t, c.url, last))
	if got != want {
		t.Fatalf("ledger.db after two kill -9 differs from a rebuild:\n--- live\n%s\n--- rebuilt\n%s", got, want)
	}
	if !strings.Contains(got, "held") {
		t.Fatal("the key stored before the kill is missing after restart")
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown on SIGTERM: %v", err)
	}
}
