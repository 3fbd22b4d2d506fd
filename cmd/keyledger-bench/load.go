package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// op is one request of a load by client i. It does any untimed preparation
// itself and returns how long the timed part took.
type op func(ctx context.Context, i int) (time.Duration, error)

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// result is what one load measured: requests that succeeded inside the
// measured window, their latencies, and the failures.
type result struct {
	ok       int
	errors   int
	firstErr error
	window   time.Duration
	samples  []time.Duration // sorted
}

// rps is the throughput of successful requests in the measured window.
func (r result) rps() float64 {
	if r.window <= 0 {
		return math.NaN()
	}
	return float64(r.ok) / r.window.Seconds()
}

// pct is the p-th percentile latency (nearest rank) of the successful
// requests; 0 when there were none.
func (r result) pct(p float64) time.Duration {
	if len(r.samples) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.samples)))) - 1
	return r.samples[max(0, min(i, len(r.samples)-1))]
}

// String is the figure as the report prints it.
func (r result) String() string {
	if r.ok == 0 && r.errors == 0 {
		return "nothing measured (the load's work ran out during its warm-up)"
	}
	s := fmt.Sprintf("%s/s, p50 %s, p99 %s (%d ok", thousands(r.rps()), ms(r.pct(50)), ms(r.pct(99)), r.ok)
	if r.errors > 0 {
		s += fmt.Sprintf(", %d FAILED, first: %v", r.errors, r.firstErr)
	}
	return s + ")"
}

// closedLoop runs do from n clients, each waiting for its answer before
// asking again, for warmup and then d, or until maxOps requests have been
// sent or every client has returned errStop. Requests started during the
// warm-up are not counted; neither are requests still running when the
// window closes. A failed request pauses its client for a millisecond so
// that fast failures do not crowd out the others.
func closedLoop(ctx context.Context, n int, warmup, d time.Duration, maxOps int, do op) result {
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	type clientResult struct {
		samples []time.Duration
		errors  int
		first   error
		stopped time.Time
	}
	per := make([]clientResult, n)
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := &per[i]
			defer func() { c.stopped = time.Now() }()
			for ctx.Err() == nil {
				mu.Lock()
				if maxOps > 0 && sent >= maxOps {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				began := time.Now()
				took, err := do(ctx, i)
				if err == errStop {
					return
				}
				finished := time.Now()
				if began.Before(measureFrom) || finished.After(end) {
					continue
				}
				if err != nil {
					if ctx.Err() != nil && finished.Sub(end) > -time.Millisecond {
						continue // cut off by the window's end, not a failure
					}
					if c.errors++; c.first == nil {
						c.first = err
					}
					time.Sleep(time.Millisecond)
					continue
				}
				c.samples = append(c.samples, took)
			}
		})
	}
	wg.Wait()
	var r result
	last := start
	for _, c := range per {
		r.samples = append(r.samples, c.samples...)
		r.errors += c.errors
		if r.firstErr == nil {
			r.firstErr = c.first
		}
		if c.stopped.After(last) {
			last = c.stopped
		}
	}
	r.ok = len(r.samples)
	if last.After(end) {
		last = end
	}
	r.window = last.Sub(measureFrom)
	slices.Sort(r.samples)
	return r
}

// errStop is returned by an op whose client has nothing more to do (its
// pool of work is used up).
var errStop = fmt.Errorf("client done")

// sorted sorts d in place and returns it.
func sorted(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}
