package commands

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go/micro"
)

// gatewayAccount is the NATS account natsauth places gateways in.
const gatewayAccount = "GATEWAYS"

// maxUsageReport is the largest report body taken: MaxReportKeys keys,
// each with MaxSources addresses, fit in well under it.
const maxUsageReport = 512 << 10

// GatewayUsageAnswer is what a usage report is answered with.
type GatewayUsageAnswer struct {
	// Recorded is how many keys' counts were stored.
	Recorded int `json:"recorded"`
	// UnknownKeys is how many keys of the report this instance does not
	// hold (never issued, or deleted): their counts were left out.
	UnknownKeys int `json:"unknown_keys"`
}

// GatewayUsageHandler serves events.GatewayUsageSubject: it checks a gateway's
// report against x (keys it holds, counts in bounds, a recent minute),
// and stores it in the usage stream under the instance "gateway:<name>",
// as this instance stores its own usage. The gateway is named by the
// server (Nats-Request-Info), never by the report.
func GatewayUsageHandler(x *verifier.Index, pub verifier.Publisher, now func() time.Time, log *slog.Logger) micro.Handler {
	var bound reportBound
	return micro.HandlerFunc(func(r micro.Request) {
		info, single := requestInfo(r.Headers())
		who := parseRequester(info)
		name, _, isGateway := keyledger.ParseGatewayUser(who.User)
		if !single || who.Acc != gatewayAccount || !isGateway {
			verifyError(r, keyledger.Errorf(keyledger.EForbidden, "only a gateway credential may report usage"))
			return
		}
		if len(r.Data()) > maxUsageReport {
			verifyError(r, keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes; send at most %d keys a report", maxUsageReport, verifier.MaxReportKeys))
			return
		}
		var rep verifier.UsageReport
		if err := Decode(r.Data(), &rep); err != nil {
			verifyError(r, err)
			return
		}
		instance := keyledger.GatewayUserPrefix + name
		at := now()
		usage, unknown, err := x.UsageOf(rep, instance, at)
		if err != nil {
			verifyError(r, err)
			return
		}
		if len(usage) > 0 && !bound.admit(name, rep.Minute, rep.ReportID, at) {
			log.Warn("refused a gateway's usage report past the reports a minute may have", "gateway", name,
				"minute", rep.Minute, "limit", MaxGatewayReportsPerMinute)
			verifyError(r, keyledger.Errorf(keyledger.ELimitReached, "gateway %s sent more than %d reports for minute %s; "+
				"a resend keeps its report_id", name, MaxGatewayReportsPerMinute, rep.Minute.UTC().Format(time.RFC3339)))
			return
		}
		if len(usage) > 0 {
			evs, ids := make([]events.Event, len(usage)), make([]string, len(usage))
			for i, u := range usage {
				evs[i], ids[i] = u, rep.MessageID(instance, u.KeyID)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := pub.Publish(ctx, evs, ids); err != nil {
				log.Error("storing a gateway's usage failed", "gateway", name, "keys", len(usage), "err", err)
				verifyError(r, keyledger.Errorf(keyledger.EUnavailable, "storing the usage failed; send it again"))
				return
			}
		}
		body, _ := json.Marshal(GatewayUsageAnswer{Recorded: len(usage), UnknownKeys: unknown})
		_ = r.Respond(body)
	})
}
