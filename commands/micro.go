package commands

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// NATS request headers.
const (
	HeaderAuthorization  = "Authorization"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// HeaderRequestInfo is set by the NATS server on a request that crossed
// from the clients' account (a service import with share: true): the
// requesting connection's identity. A client cannot forge it; the server
// replaces whatever the client sent.
const HeaderRequestInfo = "Nats-Request-Info"

// ConnectionKey returns the key ID that the requesting connection
// authenticated with, or "": the auth callout (natsauth) names each key's
// NATS user after the key, in the account CLIENTS.
func ConnectionKey(h micro.Headers) string {
	info := h.Get(HeaderRequestInfo)
	if info == "" {
		return ""
	}
	var ci struct {
		Account string `json:"acc"`
		User    string `json:"user"`
	}
	if json.Unmarshal([]byte(info), &ci) != nil || ci.Account != "CLIENTS" || !keyledger.IsID(ci.User) {
		return ""
	}
	return ci.User
}

// RequestTimeout bounds how long one request may run on the server.
const RequestTimeout = 15 * time.Second

// ServeNATS registers the service as the NATS micro service "keyledger",
// one endpoint per catalogue entry on keyledger.<name>, in the queue group
// "keyledger" so several instances share the load. Requests run
// concurrently, at most maxInFlight at once.
func ServeNATS(nc *nats.Conn, s *Service, version string, maxInFlight int) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "keyledger",
		Version:     version,
		Description: "API-key ledger: commands and queries",
		QueueGroup:  "keyledger",
	})
	if err != nil {
		return nil, err
	}
	slots := make(chan struct{}, maxInFlight)
	for _, ep := range Endpoints() {
		handler := func(req micro.Request) {
			slots <- struct{}{}
			go func() {
				defer func() { <-slots }()
				s.serveNATS(nc, ep, req)
			}()
		}
		if err := svc.AddEndpoint(endpointName(ep.Name), micro.HandlerFunc(handler), micro.WithEndpointSubject("keyledger."+ep.Name)); err != nil {
			svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// endpointName makes a micro endpoint name (no dots) of a subject suffix.
func endpointName(name string) string {
	b := []byte(name)
	for i := range b {
		if b[i] == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

func (s *Service) serveNATS(nc *nats.Conn, ep Endpoint, req micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	h := req.Headers()
	var res any
	var err error
	if bearer := h.Get(HeaderAuthorization); bearer == "" && ConnectionKey(h) != "" {
		res, err = s.CallAsKey(ctx, ep, ConnectionKey(h), h.Get(HeaderIdempotencyKey), req.Data())
	} else {
		res, err = s.Call(ctx, ep, bearer, h.Get(HeaderIdempotencyKey), req.Data())
	}
	if err == nil {
		body, merr := json.Marshal(res)
		if merr == nil {
			_ = nc.Publish(req.Reply(), body) // not req.Respond: see below
			return
		}
		err = merr
	}
	code := keyledger.ErrorCode(err)
	if code == keyledger.EInternal {
		s.Logger.Error("request failed", "endpoint", ep.String(), "err", err)
	} else {
		s.Logger.Debug("request refused", "endpoint", ep.String(), "code", code)
	}
	// Replies are published here rather than by req.Respond and req.Error:
	// micro reads what those record once the handler has returned, and this
	// runs on a goroutine of its own (a data race under -race). The headers
	// are the ones req.Error would set.
	reply := nats.NewMsg(req.Reply())
	reply.Header.Set(micro.ErrorHeader, keyledger.ErrorMessage(err))
	reply.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(keyledger.HTTPStatus(code)))
	reply.Header.Set("Keyledger-Error-Code", code)
	reply.Data = keyledger.ErrorJSON(err)
	_ = nc.PublishMsg(reply)
}
