package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopCountsOnlyTheMeasuredWindow(t *testing.T) {
	var calls atomic.Int64
	const work = 10 * time.Millisecond
	r := closedLoop(context.Background(), 4, 200*time.Millisecond, 400*time.Millisecond, 0, func(ctx context.Context, i int) (time.Duration, error) {
		n := calls.Add(1)
		took, _ := timed(func() error { time.Sleep(work); return nil })
		if n%5 == 0 {
			return took, errors.New("every fifth fails")
		}
		return took, nil
	})
	// 4 clients × 600 ms / ~10 ms is ~240 calls in all; the window holds
	// two thirds of them, and a fifth of those fail.
	if total := calls.Load(); r.ok+r.errors >= int(total)*9/10 {
		t.Fatalf("%d of %d calls counted: the warm-up was not excluded", r.ok+r.errors, total)
	}
	if r.ok == 0 || r.errors == 0 || r.firstErr == nil || r.errors*2 > r.ok {
		t.Fatalf("ok %d, errors %d (%v): want successes and about a fifth failures", r.ok, r.errors, r.firstErr)
	}
	if got := r.rps(); got < 20 || got > 400 { // 4 clients at most 100/s each, 80% success; a busy machine is slower
		t.Fatalf("throughput %.0f/s out of any plausible range", got)
	}
	if r.pct(50) < work || len(r.samples) != r.ok {
		t.Fatalf("p50 %s shorter than the work, or %d samples for %d ok", r.pct(50), len(r.samples), r.ok)
	}
	if !strings.Contains(r.String(), "FAILED, first: every fifth fails") {
		t.Fatalf("failures hidden from the figure: %s", r)
	}
}

func TestClosedLoopIsBoundedInCountAndStops(t *testing.T) {
	var calls atomic.Int64
	r := closedLoop(context.Background(), 8, 0, 10*time.Second, 50, func(ctx context.Context, i int) (time.Duration, error) {
		calls.Add(1)
		return time.Microsecond, nil
	})
	if calls.Load() != 50 || r.ok != 50 {
		t.Fatalf("%d calls, %d ok; want 50 of each", calls.Load(), r.ok)
	}
	start := time.Now()
	r = closedLoop(context.Background(), 3, 0, 10*time.Second, 0, func(ctx context.Context, i int) (time.Duration, error) {
		return 0, errStop
	})
	if time.Since(start) > time.Second || r.ok != 0 || r.errors != 0 {
		t.Fatalf("clients with nothing to do: %+v after %s", r, time.Since(start))
	}
	if !math.IsNaN(r.rps()) && r.rps() != 0 {
		t.Fatalf("throughput %v from nothing", r.rps())
	}
	if !strings.Contains(r.String(), "nothing measured") {
		t.Fatalf("an empty load reads %q", r)
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var r result
	for i := 100; i >= 1; i-- {
		r.samples = append(r.samples, time.Duration(i)*time.Millisecond)
	}
	sorted(r.samples)
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := r.pct(p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	one := result{samples: []time.Duration{7 * time.Millisecond}}
	if one.pct(99) != 7*time.Millisecond || one.pct(50) != 7*time.Millisecond {
		t.Errorf("one sample: p50 %s p99 %s", one.pct(50), one.pct(99))
	}
	if (result{}).pct(99) != 0 {
		t.Error("no samples must give 0")
	}
}

func TestReportMarksMissedTargets(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out)
	r.add("embedded", "key issue", "10/s", 0.05, "÷ bare ≥ 0.8", atLeast(0.05, 0.8))
	r.add("embedded", "unmeasurable", "nothing", nan, "≤ 1.2", atMost(nan, 1.2))
	r.add("r3", "p99", "3 ms", nan, "≤ 20 ms", atMost(3, 20))
	r.table()
	s := out.String()
	for _, want := range []string{"| embedded | key issue | 10/s | 0.05 | ÷ bare ≥ 0.8 | MISSED |", "| embedded | unmeasurable | nothing |  | ≤ 1.2 | MISSED |", "| r3 | p99 | 3 ms |  | ≤ 20 ms | met |"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if thousands(1234567.4) != "1,234,567" || thousands(999) != "999" || thousands(nan) != "?" {
		t.Errorf("thousands: %s %s %s", thousands(1234567.4), thousands(999), thousands(nan))
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--setups", "r3", "--duration", "3s", "--soak", "100000"}, true},
		{[]string{"--setups", "embedded,bogus"}, false},
		{[]string{"--setups", "*"}, false},
		{[]string{"--clients", "0"}, false},
		{[]string{"--soak", "-1"}, false},
		{[]string{"extra"}, false},
	} {
		b := NewBench()
		b.Errout = &bytes.Buffer{}
		if err := b.ParseFlags(tc.args); (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.args, err)
		}
	}
	b := NewBench()
	if err := b.ParseFlags([]string{"--setups", " interval ,r3"}); err != nil || strings.Join(b.Setups, ",") != "interval,r3" {
		t.Fatalf("setups %v, err %v", b.Setups, err)
	}
}
