package commands

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
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
				s.serveNATS(ep, req)
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

func (s *Service) serveNATS(ep Endpoint, req micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	h := req.Headers()
	res, err := s.Call(ctx, ep, header(h, HeaderAuthorization), header(h, HeaderIdempotencyKey), req.Data())
	if err == nil {
		body, merr := json.Marshal(res)
		if merr == nil {
			_ = req.Respond(body)
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
	// The headers req.Error would set, set by hand: this runs on its own
	// goroutine, and req.Error records the error in the request, which the
	// micro library reads for its stats once the handler has returned (a
	// data race). Its error counters are the price; OnCall counts instead.
	_ = req.Respond(keyledger.ErrorJSON(err), micro.WithHeaders(micro.Headers{
		micro.ErrorHeader:      []string{keyledger.ErrorMessage(err)},
		micro.ErrorCodeHeader:  []string{strconv.Itoa(keyledger.HTTPStatus(code))},
		"Keyledger-Error-Code": []string{code},
	}))
}

// header returns a request header by name in any case: NATS headers keep
// the case a client wrote ("authorization"), HTTP's do not.
func header(h micro.Headers, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}
