package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger/natsauth"
)

// fixedVerifyJSON is what the bare baseline answers: a valid result's shape.
var fixedVerifyJSON = []byte(`{"valid":true,"key_id":"01KA0000000000000000000000","owner":"01KA0000000000000000000000","scopes":["read","write"],"seq":1}`)

// serveBare is the HTTP baseline: a bare net/http handler answering a fixed
// JSON body, run as its own process (this binary with --serve-bare) like
// the server it is compared with.
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

// http loads POST /v1/verify and the bare baseline under the same load, one
// after the other. Each runs as its own process with one core
// (GOMAXPROCS=1), the load generator on the other: on a 2-core machine a
// server and its load generator fighting over both cores measure the
// scheduler, not the server. keyledger runs as a second instance
// (`serve --nats`) on the target's NATS and builds its own ledger.db.
func (b *Bench) http(ctx context.Context, t *target, body string) error {
	dir, err := os.MkdirTemp("", "keyledger-bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"serve", "--data", filepath.Join(dir, "data"), "--nats", t.url}
	if seed := filepath.Join(t.dataDir, natsauth.ServiceSeedFile); fileExists(seed) {
		args = append(args, "--nats-nkey", seed) // an embedded target's NATS has accounts
	}
	ours, err := start(b.bin, []string{"GOMAXPROCS=1"}, append(args, "--http")...)
	if err != nil {
		return err
	}
	defer ours.stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare, err := start(self, []string{"GOMAXPROCS=1"}, "--serve-bare")
	if err != nil {
		return err
	}
	defer bare.stop()
	if err := ours.waitReady(ctx, "/readyz", 2*time.Minute); err != nil {
		return err
	}
	if err := bare.waitReady(ctx, "/", time.Minute); err != nil {
		return err
	}
	// wrk does not read answers: make sure the load is of valid verifications.
	res, err := http.Post(ours.url+"/v1/verify", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(answer, []byte(`"valid":true`)) {
		return fmt.Errorf("second instance answers %.200s", answer)
	}
	mine, tool, err := b.httpLoad(ctx, ours.url+"/v1/verify", body)
	if err != nil {
		return fmt.Errorf("http load: %w", err)
	}
	base, _, err := b.httpLoad(ctx, bare.url+"/", body)
	if err != nil {
		return fmt.Errorf("http load (bare): %w", err)
	}
	share := mine.rps() / base.rps()
	b.rep.add("verify", "POST /v1/verify, HTTP/1.1 keep-alive, "+tool, mine.String(), nan, "≥ 40,000 req/s, p99 ≤ 2 ms",
		atLeast(min(mine.rps()/40000, float64(2*time.Millisecond)/float64(mine.pct(99))), 1))
	b.rep.add("verify", "bare net/http, fixed JSON, same load", base.String(), nan, "", nil)
	b.rep.add("verify", "/v1/verify as a share of bare net/http", fmt.Sprintf("%.0f%%", 100*share), nan, "≥ 70%", atLeast(share, 0.7))
	return nil
}

// httpLoad POSTs body to url over HTTPConns keep-alive connections: with
// wrk when it is installed (its own percentiles), else with a Go client.
func (b *Bench) httpLoad(ctx context.Context, url, body string) (result, string, error) {
	if path, err := exec.LookPath("wrk"); err == nil {
		r, err := b.wrk(ctx, path, url, body)
		return r, fmt.Sprintf("wrk -t1 -c%d", b.HTTPConns), err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.HTTPConns, MaxConnsPerHost: b.HTTPConns}}
	r := closedLoop(ctx, b.HTTPConns, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		return timed(func() error {
			res, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("HTTP %d", res.StatusCode)
			}
			return nil
		})
	})
	if r.errors > 0 {
		return r, "", fmt.Errorf("%d requests failed, first: %w", r.errors, r.firstErr)
	}
	return r, fmt.Sprintf("Go client, %d connections", b.HTTPConns), nil
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

// wrk runs wrk with one thread (the other core is the server's) and reads
// its throughput and percentiles into a result of two samples.
func (b *Bench) wrk(ctx context.Context, path, url, body string) (result, error) {
	script, err := os.CreateTemp("", "keyledger-bench-*.lua")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(script.Name())
	fmt.Fprintf(script, "wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	script.Close()
	out, err := exec.CommandContext(ctx, path, "-t1", "-c", strconv.Itoa(b.HTTPConns), "-d", b.Duration.String(), "--latency", "-s", script.Name(), url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
		return result{}, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("wrk: no Requests/sec in\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	var p50, p99 time.Duration
	for _, m := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		d := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]))
		if string(m[1]) == "50" {
			p50 = d
		} else {
			p99 = d
		}
	}
	// wrk reports percentiles, not samples: two samples reproduce them
	// through result.pct, and ok/window reproduce the throughput.
	return result{ok: int(rps * b.Duration.Seconds()), window: b.Duration, samples: []time.Duration{p50, p99}}, nil
}
