package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// keepHeapFloor paces the garbage collector so the heap goal is at least
// floor bytes. With the default GOGC=100 a server whose live heap is a few
// megabytes collects dozens of times a second, and on a small machine each
// mark phase shows up in verification tail latency; a large heap (a million
// keys) keeps the default pacing. It does nothing when GOGC is set
// explicitly, and stops when ctx ends.
func keepHeapFloor(ctx context.Context, floor uint64, every time.Duration) {
	if os.Getenv("GOGC") != "" {
		return
	}
	// Live bytes are known only after a first collection; until then the
	// heap's objects are the estimate.
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		if live == 0 {
			live = sample[1].Value.Uint64()
		}
		debug.SetGCPercent(gcPercentFor(live, floor))
		select {
		case <-ctx.Done():
			debug.SetGCPercent(100)
			return
		case <-tick.C:
		}
	}
}

// gcPercentFor is the GOGC that puts the heap goal, live*(1+GOGC/100), at
// floor, between the default 100 and 1000.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || live >= floor/2 {
		return 100
	}
	return int(min(1000, 100*(floor-live)/live))
}
