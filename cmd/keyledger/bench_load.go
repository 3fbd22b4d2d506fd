package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
)

// load is what one load run measured.
type load struct {
	rps  float64
	p50  time.Duration
	p99  time.Duration
	tool string
}

func (l load) String() string {
	return fmt.Sprintf("%s req/s, p50 %s, p99 %s (%s)", thousands(l.rps), l.p50.Round(time.Microsecond), l.p99.Round(time.Microsecond), l.tool)
}

// httpLoad POSTs body to url over keep-alive HTTP/1.1 connections for d:
// with wrk when it is installed, else with a Go load generator.
func httpLoad(url, body string, conns int, d time.Duration) (load, error) {
	if path, err := exec.LookPath("wrk"); err == nil {
		return wrkLoad(path, url, body, conns, d)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	l, err := closedLoop(conns, d, func() error {
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
	l.tool = fmt.Sprintf("Go client, %d connections", conns)
	return l, err
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

func wrkLoad(path, url, body string, conns int, d time.Duration) (load, error) {
	script, err := os.CreateTemp("", "keyledger-bench-*.lua")
	if err != nil {
		return load{}, err
	}
	defer os.Remove(script.Name())
	fmt.Fprintf(script, "wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)
	script.Close()
	threads := 1 // the other core is the server's
	out, err := exec.Command(path, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(), "--latency", "-s", script.Name(), url).CombinedOutput()
	if err != nil {
		return load{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		return load{}, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	l := load{tool: fmt.Sprintf("wrk -t%d -c%d", threads, conns)}
	if m := wrkRPS.FindSubmatch(out); m != nil {
		l.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		if string(m[1]) == "50" {
			l.p50 = time.Duration(v * float64(unit))
		} else {
			l.p99 = time.Duration(v * float64(unit))
		}
	}
	return l, nil
}

// natsLoad sends verification requests on keyledger.verify from conns
// concurrent requesters over a few connections for d.
func natsLoad(url string, body []byte, conns int, d time.Duration) (load, error) {
	var ncs []*nats.Conn
	for range 4 {
		nc, err := nats.Connect(url, natsauth.ConnectOptions("")...) // keyless: verify only
		if err != nil {
			return load{}, err
		}
		defer nc.Close()
		ncs = append(ncs, nc)
	}
	var next int
	var mu sync.Mutex
	l, err := closedLoop(conns, d, func() error {
		mu.Lock()
		nc := ncs[next%len(ncs)]
		next++
		mu.Unlock()
		msg, err := nc.Request("keyledger.verify", body, 5*time.Second)
		if err != nil {
			return err
		}
		if !bytes.Contains(msg.Data, []byte(`"valid":true`)) {
			return fmt.Errorf("unexpected answer %s", msg.Data)
		}
		return nil
	})
	l.tool = fmt.Sprintf("Go client, %d concurrent requests over %d connections", conns, len(ncs))
	return l, err
}

// closedLoop runs do from n goroutines, each waiting for its answer before
// asking again, for d, and reports throughput and latency percentiles.
func closedLoop(n int, d time.Duration, do func() error) (load, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lat := make([][]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				t := time.Now()
				if err := do(); err != nil {
					errs <- err
					cancel()
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return load{}, err
	default:
	}
	all := slices.Concat(lat...)
	return load{rps: float64(len(all)) / elapsed.Seconds(), p50: percentile(all, 50), p99: percentile(all, 99)}, nil
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

// thousands formats n with thin grouping: 1,234,567.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
