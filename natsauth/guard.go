package natsauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerGuard holds gateways to what their credential is for: following
// the ledger's streams through ephemeral pull consumers, which is what
// ordered consumers are. NATS permissions name subjects, not request
// bodies, so the subject that creates such a consumer creates any other
// kind as well. A durable consumer would outlive the gateway and pile up on
// the servers; a push consumer delivers the stream to any subject of the
// ledger account, keyledger's own request subjects among them. The guard
// reads JetStream's API audit advisories and deletes such a consumer as
// soon as a gateway has created it (or turned one into it), with a warning
// naming the gateway. Consumers that keyledger's own user creates are left
// alone.
//
// Fill the fields, then Start on a connection of the ledger account.
// Several instances may run one each: they share the work in a queue group.
type ConsumerGuard struct {
	JS     jetstream.JetStream
	Logger *slog.Logger
	// MaxInactive is the longest inactivity threshold a gateway's consumer
	// may ask for (DefaultMaxInactive): a longer one keeps an abandoned
	// consumer on the servers as if it were durable.
	MaxInactive time.Duration

	removed atomic.Uint64
	sub     *nats.Subscription
}

// DefaultMaxInactive is the MaxInactive a zero ConsumerGuard uses: an hour,
// far above the five minutes ordered consumers ask for.
const DefaultMaxInactive = time.Hour

// apiAuditSubject is where a server reports each JetStream API request of
// the account, with the client that made it and the server's answer.
const apiAuditSubject = "$JS.EVENT.ADVISORY.API"

// Start subscribes to the advisories. Stop ends it.
func (g *ConsumerGuard) Start(nc *nats.Conn) error {
	if g.Logger == nil {
		g.Logger = slog.Default()
	}
	if g.MaxInactive <= 0 {
		g.MaxInactive = DefaultMaxInactive
	}
	sub, err := nc.QueueSubscribe(apiAuditSubject, "keyledger", g.handle)
	if err != nil {
		return err
	}
	g.sub = sub
	return nc.Flush()
}

// Stop unsubscribes.
func (g *ConsumerGuard) Stop() {
	if g.sub != nil {
		_ = g.sub.Unsubscribe()
	}
}

// Removed is how many consumers the guard has deleted: the metric
// keyledger_gateway_consumers_removed_total.
func (g *ConsumerGuard) Removed() uint64 { return g.removed.Load() }

// apiAudit is the part of an io.nats.jetstream.advisory.v1.api_audit
// advisory the guard reads.
type apiAudit struct {
	Client struct {
		User string `json:"user"`
		Host string `json:"host"`
		Name string `json:"name"`
	} `json:"client"`
	Subject  string `json:"subject"`
	Response string `json:"response"`
}

// consumerAnswer is the part of a consumer create (or update) answer the
// guard reads.
type consumerAnswer struct {
	Error  *json.RawMessage `json:"error"`
	Stream string           `json:"stream_name"`
	Name   string           `json:"name"`
	Config struct {
		Durable        string        `json:"durable_name"`
		DeliverSubject string        `json:"deliver_subject"`
		Inactive       time.Duration `json:"inactive_threshold"`
	} `json:"config"`
}

func (g *ConsumerGuard) handle(m *nats.Msg) {
	var a apiAudit
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return
	}
	gateway, ok := strings.CutPrefix(a.Client.User, gatewayUserPrefix)
	if !ok || !strings.HasPrefix(a.Subject, "$JS.API.CONSUMER.") || !strings.Contains(a.Subject, "CREATE.") {
		return
	}
	var c consumerAnswer
	if err := json.Unmarshal([]byte(a.Response), &c); err != nil || c.Error != nil || c.Name == "" {
		return
	}
	why := g.refuse(c)
	if why == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := g.JS.DeleteConsumer(ctx, c.Stream, c.Name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return // another instance of the queue group, or the gateway itself, was first
	}
	if err != nil {
		g.Logger.Error("a gateway created a consumer it may not have, and deleting it failed",
			"gateway", gateway, "host", a.Client.Host, "stream", c.Stream, "consumer", c.Name, "why", why, "err", err)
		return
	}
	g.removed.Add(1)
	g.Logger.Warn("deleted a consumer a gateway may not have",
		"gateway", gateway, "host", a.Client.Host, "client", a.Client.Name, "stream", c.Stream, "consumer", c.Name, "why", why)
}

// refuse says what makes a gateway's consumer one it may not have, or "".
func (g *ConsumerGuard) refuse(c consumerAnswer) string {
	switch {
	case c.Config.Durable != "":
		return "durable"
	case c.Config.DeliverSubject != "":
		return "push, delivering to " + c.Config.DeliverSubject
	case c.Config.Inactive > g.MaxInactive:
		return "inactive threshold " + c.Config.Inactive.String() + " over " + g.MaxInactive.String()
	}
	return ""
}
