package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go"
)

// reportAttempts is how many times one report is sent before its counts
// are given up (and logged as lost).
const reportAttempts = 3

// reportUsage sends the gateway's verifications to keyledger once a
// minute, for the minute that ended, and once more when ctx ends, so that
// keyledger counts use through the gateway as use: last_used_at moves, the
// inactivity policy does not end a key in use, and traces and the
// suspicious ranking see the traffic and where it came from.
func (g *Gateway) reportUsage(ctx context.Context, nc *nats.Conn) {
	for {
		now := g.index.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-ctx.Done():
			g.flushUsage(nc, now.Truncate(time.Minute), 1) // Close waits for it
			return
		case <-time.After(next.Sub(now)):
			g.flushUsage(nc, next.Add(-time.Minute), reportAttempts)
		}
	}
}

// flushUsage takes the index's counts and reports them as of minute,
// sending each report up to attempts times.
func (g *Gateway) flushUsage(nc *nats.Conn, minute time.Time, attempts int) {
	usage := g.index.TakeUsage(minute, "")
	for _, rep := range verifier.Reports(minute, usage) {
		if err := sendReport(nc, rep, attempts); err != nil {
			g.log.Error("reporting usage to keyledger failed; these counts are lost", "keys", len(rep.Keys), "minute", minute, "err", err)
		}
	}
}

// errRefused is a report keyledger answered with an error: sending it
// again would not help.
var errRefused = errors.New("keyledger refused the usage report")

// sendReport sends one report, again after a timeout or while no
// keyledger instance answers, up to attempts times.
func sendReport(nc *nats.Conn, rep verifier.UsageReport, attempts int) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		msg, err := nc.Request(events.GatewayUsageSubject, body, 10*time.Second)
		if err == nil {
			if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
				return fmt.Errorf("%w: %s %s", errRefused, msg.Header.Get("Keyledger-Error-Code"), msg.Data)
			}
			return nil
		}
		if attempt >= attempts || nc.IsClosed() {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
}
