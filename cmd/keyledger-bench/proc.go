package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// binary returns the keyledger binary to measure: --bin, or one built from
// this module into a temporary directory.
func (b *Bench) binary(ctx context.Context) (string, func(), error) {
	if b.Bin != "" {
		return b.Bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "keyledger-bench-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "keyledger")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/keyledger/keyledger/cmd/keyledger")
	cmd.Stdout, cmd.Stderr = b.Errout, b.Errout
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/keyledger (run from the module, or pass --bin): %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// process is a child of the bench: a `keyledger serve`, or the bare HTTP
// baseline, serving HTTP at url.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *syncWriter
}

// start runs bin with args and --http (or the bare handler's address) on
// a free loopback port appended; env is added to the bench's environment.
func start(bin string, env []string, args ...string) (*process, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append(args, addr)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncWriter{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{cmd: cmd, url: "http://" + addr, logs: logs}, nil
}

// waitReady polls path until it answers 200, the process exits, or a
// limit passes.
func (p *process) waitReady(ctx context.Context, path string, limit time.Duration) error {
	for start := time.Now(); time.Since(start) < limit; {
		if res, err := http.Get(p.url + path); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if p.gone() {
			return fmt.Errorf("%s exited: %s", filepath.Base(p.cmd.Path), lastLines(p.logs.String(), 5))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s: %s", filepath.Base(p.cmd.Path), limit, lastLines(p.logs.String(), 5))
}

// gone reports whether the process no longer exists.
func (p *process) gone() bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", p.cmd.Process.Pid))
	if err != nil {
		return true
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// stop asks the process to shut down gracefully and waits for it.
func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// rssMB reads the process's resident set size from /proc.
func (p *process) rssMB() int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
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

// freeLoopback returns a loopback address with a port free a moment ago.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

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

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
