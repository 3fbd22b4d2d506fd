package verifier

import (
	"sync"
	"time"

	"github.com/keyledger/keyledger"
)

// bucket is a token bucket: Limit tokens, refilled evenly over Per. Each
// instance keeps its own, so N instances allow up to N times the limit.
type bucket struct {
	mu       sync.Mutex
	capacity float64
	perNanos float64 // tokens added per nanosecond
	tokens   float64
	last     int64
}

func newBucket(rl *keyledger.RateLimit) *bucket {
	if rl == nil || rl.Limit <= 0 {
		return nil
	}
	p, err := keyledger.ParsePeriod(rl.Per)
	if err != nil {
		return nil
	}
	per := p.Duration()
	return &bucket{capacity: float64(rl.Limit), perNanos: float64(rl.Limit) / float64(per), tokens: float64(rl.Limit)}
}

// take spends one token if there is one.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := now.UnixNano()
	if b.last != 0 && n > b.last {
		b.tokens = min(b.capacity, b.tokens+float64(n-b.last)*b.perNanos)
	}
	b.last = n
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
