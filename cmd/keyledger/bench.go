package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/nats-io/nats.go"
)

// benchCmd is `keyledger bench`: it starts a real server in a temporary
// directory, loads it, and prints each figure beside its target, as the
// README's performance table records them.
type benchCmd struct {
	duration time.Duration
	conns    int // concurrent NATS requests
	httpConn int // HTTP connections
	keys     int
	revokes  int
	million  bool
	keepDir  string
	bare     string
	out      io.Writer
	rows     [][3]string
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	b := &benchCmd{out: stdout}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "how long each load runs")
	fs.IntVar(&b.httpConn, "http-connections", 8, "HTTP keep-alive connections")
	fs.IntVar(&b.conns, "nats-requests", 50, "concurrent NATS requests")
	fs.IntVar(&b.keys, "keys", 10000, "keys in the index during the load runs")
	fs.IntVar(&b.revokes, "revokes", 200, "revocations timed from reply to notification")
	fs.BoolVar(&b.million, "million", false, "also seed 1,000,000 keys and time a cold start to ready")
	fs.StringVar(&b.keepDir, "million-dir", "", "with --million: seed into this directory and keep it; reuse it if already seeded")
	fs.StringVar(&b.bare, "serve-bare", "", "internal: only serve the bare fixed-JSON handler on this address (the HTTP baseline)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if b.bare != "" {
		return serveBare(ctx, b.bare)
	}
	if err := b.run(ctx); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func (b *benchCmd) row(figure, target, measured string) {
	b.rows = append(b.rows, [3]string{figure, target, measured})
	fmt.Fprintf(b.out, "%-48s %s\n", figure+":", measured)
}

func quietMain(dir string) *Main {
	m := NewMain()
	m.DataDir, m.NATSListen, m.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Stdout, m.Logger = io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil))
	return m
}

func (b *benchCmd) run(ctx context.Context) error {
	fmt.Fprintf(b.out, "keyledger bench on %d CPUs, %s\n\n", runtime.NumCPU(), runtime.Version())
	dir, err := os.MkdirTemp("", "keyledger-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m := quietMain(dir)
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()
	admin, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return err
	}
	bearer := "Bearer " + strings.TrimSpace(string(admin))
	actor, err := m.service.Authenticate(ctx, bearer)
	if err != nil {
		return err
	}
	on := true
	if _, err := m.service.SetSettings(ctx, actor, "", commands.SetSettings{Enabled: &on}); err != nil {
		return err
	}
	tokens, err := seedKeys(ctx, m.store, b.keys, b.keys)
	if err != nil {
		return err
	}
	last, err := m.store.LastSeq(ctx)
	if err != nil {
		return err
	}
	if err := m.projector.WaitFor(ctx, last); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "index: %d keys\n\n", m.index.Len())

	b.inProcess(m, tokens)
	body := fmt.Sprintf(`{"key":%q,"scope":"read"}`, tokens[0])
	if err := b.http(m, body); err != nil {
		return err
	}
	l, err := natsLoad(m.ClientURL(), []byte(body), b.conns, b.duration)
	if err != nil {
		return fmt.Errorf("nats load: %w", err)
	}
	b.row("keyledger.verify over NATS", "≥ 30,000 req/s", l.String())
	if err := b.revocations(m, bearer); err != nil {
		return err
	}
	if b.million {
		if err := b.cold(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintln(b.out, "\n| figure | target | measured |\n|---|---|---|")
	for _, r := range b.rows {
		fmt.Fprintf(b.out, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	return nil
}

// inProcess verifies against the server's own index on one goroutine for
// the run's duration.
func (b *benchCmd) inProcess(m *Main, tokens []string) {
	x := m.index
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, start := 0, time.Now()
	for time.Since(start) < b.duration {
		for range 10000 {
			x.Verify(tokens[n%len(tokens)], "read", "")
			n++
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	// Mallocs counts the whole process (the embedded server too); the
	// allocation-free claim itself is BenchmarkVerify's and TestVerifyAllocatesNothing's.
	b.row("in-process verify, one goroutine", "≥ 1,000,000/s, 0 allocs",
		fmt.Sprintf("%s/s, %.2f process-wide mallocs/op", thousands(float64(n)/elapsed.Seconds()), float64(after.Mallocs-before.Mallocs)/float64(n)))
}

// revocations issues and revokes keys over the NATS API, timing from the
// revoke reply to the notification, and verifying on the same instance at
// once after each reply.
func (b *benchCmd) revocations(m *Main, bearer string) error {
	nc, err := nats.Connect(m.ClientURL(), connectOptions(strings.TrimPrefix(bearer, "Bearer "))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	// The subscriber notes when each notification arrives, on its own connection.
	sc, err := nats.Connect(m.ClientURL(), connectOptions("")...)
	if err != nil {
		return err
	}
	defer sc.Close()
	arrived := make(chan arrival, b.revokes)
	if _, err := sc.Subscribe("keyledger.notify.revoked.*", func(msg *nats.Msg) {
		arrived <- arrival{msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:], time.Now()}
	}); err != nil {
		return err
	}
	if err := sc.Flush(); err != nil {
		return err
	}
	call := func(subject string, body any, out any) error {
		data, _ := json.Marshal(body)
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{"Authorization": []string{bearer}}}
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			return err
		}
		if reply.Header.Get("Nats-Service-Error-Code") != "" {
			return fmt.Errorf("%s: %s", subject, reply.Data)
		}
		return json.Unmarshal(reply.Data, out)
	}
	var lat []time.Duration
	stale := 0
	for i := range b.revokes {
		var k struct {
			KeyID string `json:"key_id"`
			Token string `json:"token"`
		}
		if err := call("keyledger.cmd.key.issue", map[string]string{"name": fmt.Sprint("revoke-", i)}, &k); err != nil {
			return err
		}
		var res commands.RevokeResult
		if err := call("keyledger.cmd.key.revoke", commands.RevokeKeys{KeyIDs: []string{k.KeyID}}, &res); err != nil {
			return err
		}
		replied := time.Now()
		if v, err := nc.Request("keyledger.verify", []byte(`{"key":"`+k.Token+`"}`), 5*time.Second); err != nil {
			return err
		} else if strings.Contains(string(v.Data), `"valid":true`) {
			stale++
		}
		select {
		case a := <-arrived:
			if a.keyID != k.KeyID {
				return fmt.Errorf("notification for %s while waiting for %s", a.keyID, k.KeyID)
			}
			lat = append(lat, max(0, a.at.Sub(replied))) // 0: it arrived before the reply
		case <-time.After(5 * time.Second):
			return fmt.Errorf("no notification for %s", k.KeyID)
		}
	}
	b.row("revoke reply → notification received", "p99 ≤ 5 ms",
		fmt.Sprintf("p50 %s, p99 %s over %d revokes", percentile(lat, 50).Round(time.Microsecond), percentile(lat, 99).Round(time.Microsecond), len(lat)))
	b.row("verify answered valid after the revoke reply", "0", fmt.Sprint(stale))
	return nil
}

type arrival struct {
	keyID string
	at    time.Time
}

// cold seeds 1,000,000 keys, then starts `keyledger serve` on that data as
// a new process and times it to ready, reading its resident memory.
func (b *benchCmd) cold(ctx context.Context) error {
	dir := b.keepDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "keyledger-bench-1m-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger.db")); err != nil {
		if err := b.seedMillion(ctx, dir); err != nil {
			return err
		}
	}
	return b.coldStart(dir)
}

// seedMillion stores 1,000,000 keys in dir and projects them.
func (b *benchCmd) seedMillion(ctx context.Context, dir string) error {
	m := quietMain(dir)
	if err := m.Run(ctx); err != nil {
		return err
	}
	start := time.Now()
	if _, err := seedKeys(ctx, m.store, 1_000_000, 0); err != nil {
		m.Close()
		return err
	}
	last, _ := m.store.LastSeq(ctx)
	if err := m.projector.WaitFor(ctx, last); err != nil {
		m.Close()
		return err
	}
	fmt.Fprintf(b.out, "seeded and projected 1,000,000 keys in %s\n", time.Since(start).Round(time.Second))
	return m.Close()
}

// coldStart starts `keyledger serve` on dir as a new process, times it to
// ready, and reads its memory: the index's own heap (from its log) and the
// whole process's resident set, which includes the embedded NATS server.
func (b *benchCmd) coldStart(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeLoopback()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "serve", "--data", dir, "--nats-listen", "127.0.0.1:0", "--http", addr)
	logs := &syncWriter{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, url: "http://" + addr}
	defer p.stop()
	if err := p.waitReady("/readyz"); err != nil {
		return err
	}
	ready := time.Since(start)
	indexMB := "?"
	if m := regexp.MustCompile(`verify index loaded" keys=(\d+) .*seconds=([\d.]+) index_mb=(\d+)`).FindStringSubmatch(logs.String()); m != nil {
		indexMB = fmt.Sprintf("%s MB for %s keys, loaded in %.1f s", m[3], m[1], must(strconv.ParseFloat(m[2], 64)))
	}
	b.row("1,000,000 active keys: start-up to ready", "≤ 10 s", ready.Round(10*time.Millisecond).String())
	b.row("1,000,000 active keys: index memory", "≤ 300 MB", indexMB)
	b.row("1,000,000 active keys: whole server, resident", "—", fmt.Sprintf("%d MB VmRSS (embedded NATS, SQLite and index)", rssMB(cmd.Process.Pid)))
	return nil
}

func must[T any](v T, _ error) T { return v }

// syncWriter collects a child's output while it runs.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rssMB reads a process's resident set size from /proc.
func rssMB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return -1
}
