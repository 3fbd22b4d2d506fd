package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyledger/keyledger/natsauth"
)

// fixedVerifyJSON is what the bare baseline answers: a valid result's shape.
var fixedVerifyJSON = []byte(`{"valid":true,"key_id":"01KA0000000000000000000000","owner":"01KA0000000000000000000000","scopes":["read","write"],"seq":1}`)

// serveBare is the HTTP baseline: a bare net/http handler answering a fixed
// JSON body, run as its own process like the server it is compared with.
func serveBare(ctx context.Context, addr string) int {
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixedVerifyJSON)
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && ctx.Err() == nil {
		return 1
	}
	return 0
}

// http loads POST /v1/verify and the bare baseline under the same wrk load,
// one after the other. Each runs as its own process with one core
// (GOMAXPROCS=1), wrk on the other: on a 2-core machine a server and its
// load generator fighting over both cores, or a server sharing its process
// with the benchmark, measures the scheduler and the collector, not the
// server. keyledger runs as a second instance on the benchmark's NATS.
func (b *benchCmd) http(m *Main, body string) error {
	dir, err := os.MkdirTemp("", "keyledger-bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ours, err := b.child("serve", "--data", dir, "--nats", m.ClientURL(), "--nats-nkey", filepath.Join(m.DataDir, natsauth.ServiceSeedFile), "--http")
	if err != nil {
		return err
	}
	defer ours.stop()
	bare, err := b.child("bench", "--serve-bare")
	if err != nil {
		return err
	}
	defer bare.stop()
	if err := ours.waitReady("/readyz"); err != nil {
		return err
	}
	if err := bare.waitReady("/"); err != nil {
		return err
	}
	// wrk does not read answers: make sure the load is of valid verifications.
	res, err := http.Post(ours.url+"/v1/verify", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(answer), `"valid":true`) {
		return fmt.Errorf("second instance answers %s", answer)
	}
	ourLoad, err := httpLoad(ours.url+"/v1/verify", body, b.httpConn, b.duration)
	if err != nil {
		return fmt.Errorf("http load: %w", err)
	}
	base, err := httpLoad(bare.url+"/", body, b.httpConn, b.duration)
	if err != nil {
		return fmt.Errorf("http load (bare): %w", err)
	}
	b.row("POST /v1/verify, HTTP/1.1 keep-alive", "≥ 40,000 req/s, p99 ≤ 2 ms", ourLoad.String())
	b.row("bare net/http, fixed JSON, same load", "—", base.String())
	b.row("/v1/verify as a share of bare net/http", "≥ 70%", fmt.Sprintf("%.0f%%", 100*ourLoad.rps/base.rps))
	return nil
}

// process is a child of the benchmark serving HTTP at url.
type process struct {
	cmd *exec.Cmd
	url string
}

// child starts this binary with args and a free HTTP address appended,
// on one core.
func (b *benchCmd) child(args ...string) (*process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append(args, addr)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{cmd: cmd, url: "http://" + addr}, nil
}

func (p *process) waitReady(path string) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(p.url + path); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not become ready", p.cmd.Args[1])
}

func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
}

func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
