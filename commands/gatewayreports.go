package commands

import (
	"sync"
	"time"

	"github.com/keyledger/keyledger/verifier"
)

// MaxGatewayReportsPerMinute is how many reports one gateway name may send
// to one instance for one minute of usage: a minute's usage of 500 keys a
// report, from every replica of the gateway and every restart within the
// minute, fits well under it. A report sent again with its report_id does
// not count again.
const MaxGatewayReportsPerMinute = 256

// reportBound holds each gateway to MaxGatewayReportsPerMinute reports a
// minute. Without it, a gateway credential could store usage without end:
// each new report_id is stored anew, for any minute of the last hour.
type reportBound struct {
	mu      sync.Mutex
	minutes map[gatewayMinute]*minuteReports
	pruned  time.Time
}

// gatewayMinute is one gateway's reports for one minute.
type gatewayMinute struct {
	gateway string
	minute  int64
}

// minuteReports is what a gateway reported for one minute: the report IDs
// taken, and how many reports in all.
type minuteReports struct {
	ids map[string]bool
	n   int
}

// admit reports whether gateway may report minute once more with reportID
// ("" for none) at now, and counts it if so.
func (b *reportBound) admit(gateway string, minute time.Time, reportID string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.minutes == nil {
		b.minutes = map[gatewayMinute]*minuteReports{}
	}
	if now.Sub(b.pruned) >= time.Minute {
		// Minutes past verifier.MaxReportAge are refused before they get
		// here: what is kept of them can go.
		oldest := now.Add(-verifier.MaxReportAge - time.Minute).Unix()
		for k := range b.minutes {
			if k.minute < oldest {
				delete(b.minutes, k)
			}
		}
		b.pruned = now
	}
	k := gatewayMinute{gateway, minute.Unix()}
	r := b.minutes[k]
	if r == nil {
		r = &minuteReports{ids: map[string]bool{}}
		b.minutes[k] = r
	}
	if reportID != "" && r.ids[reportID] {
		return true // sent again: stored once by its message ID
	}
	if r.n >= MaxGatewayReportsPerMinute {
		return false
	}
	r.n++
	if reportID != "" {
		r.ids[reportID] = true
	}
	return true
}
