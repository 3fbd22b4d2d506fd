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
	"github.com/oklog/ulid/v2"
)

// reportAttempts is how many times one report is sent before its counts
// are given up (and logged as lost).
const reportAttempts = 3

// reporter hands the usage the index records (verifier.Index.RecordUsage:
// once a minute, for the minute that ended, and once more when the
// gateway closes) to keyledger as reports on events.GatewayUsageSubject,
// so that keyledger counts use through the gateway as use: last_used_at
// moves, the inactivity policy does not end a key in use, and traces and
// the suspicious ranking see the traffic and where it came from.
type reporter struct{ nc *nats.Conn }

// Publish sends the usage events of one minute as reports; message IDs are
// keyledger's to choose.
func (r reporter) Publish(ctx context.Context, evs []events.Event, _ []string) error {
	usage := make([]*events.UsageRecorded, 0, len(evs))
	for _, e := range evs {
		if u, ok := e.(*events.UsageRecorded); ok {
			usage = append(usage, u)
		}
	}
	if len(usage) == 0 {
		return nil
	}
	var errs []error
	for _, rep := range verifier.Reports(usage[0].Minute, usage) {
		// Stored once however often it is sent, and apart from every
		// other gateway's under the same credential.
		rep.ReportID = ulid.Make().String()
		if err := sendReport(ctx, r.nc, rep); err != nil {
			errs = append(errs, fmt.Errorf("%d keys: %w", len(rep.Keys), err))
		}
	}
	return errors.Join(errs...)
}

// errRefused is a report keyledger answered with an error: sending it
// again would not help.
var errRefused = errors.New("keyledger refused the usage report")

// sendReport sends one report, again after a timeout, up to reportAttempts
// times while ctx lasts. No responder at all (no keyledger, or one too old
// to take reports) is not waited for.
func sendReport(ctx context.Context, nc *nats.Conn, rep verifier.UsageReport) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msg, err := nc.RequestWithContext(rctx, events.GatewayUsageSubject, body)
		cancel()
		if err == nil {
			if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
				return fmt.Errorf("%w: %s %s", errRefused, msg.Header.Get("Keyledger-Error-Code"), msg.Data)
			}
			return nil
		}
		if attempt >= reportAttempts || nc.IsClosed() || errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}
