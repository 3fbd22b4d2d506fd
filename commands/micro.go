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

// HeaderRequestInfo is set by the NATS server on a request that crossed
// from the clients' account (a service import with share: true): the
// requesting connection's identity. The server removes a client's own
// copy, but only from header lines that start after CR LF, while nats.go
// also starts a line after a bare LF: a client can hide a second one in
// front of the server's. Read it with requestInfo, never Get.
const HeaderRequestInfo = "Nats-Request-Info"

// errSmuggledHeader refuses a request that carries more than one
// Nats-Request-Info: all but one are the client's.
var errSmuggledHeader = keyledger.Errorf(keyledger.EUnauthenticated, "the request carries more than one Nats-Request-Info header")

// requestInfo returns the request's Nats-Request-Info, "" if it has none
// (a request from keyledger's own account), and ok false if it has more
// than one.
func requestInfo(h micro.Headers) (info string, ok bool) {
	switch v := h.Values(HeaderRequestInfo); len(v) {
	case 0:
		return "", true
	case 1:
		return v[0], true
	}
	return "", false
}

// RequestTimeout bounds how long one request may run on the server.
const RequestTimeout = 15 * time.Second

// ServeNATS registers the service as the NATS micro service "keyledger",
// one endpoint per catalogue entry on keyledger.<name>, in the queue group
// "keyledger" so several instances share the load.
//
// Each request is answered before its handler returns, because that is when
// micro counts it: a request answered later, from another goroutine, is
// counted neither as an error (`nats micro stats` showed 0 errors while
// every command failed) nor in the processing time, and races with micro's
// bookkeeping. A handler runs one request at a time, so each catalogue entry
// is served by workers endpoints of the same name on the same subject and
// queue group: up to workers requests to one entry run at once on this
// instance (commands on one owner still take turns), and `nats micro stats`
// shows one row per worker.
func ServeNATS(nc *nats.Conn, s *Service, version string, workers int) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "keyledger",
		Version:     version,
		Description: "API-key ledger: commands and queries",
		QueueGroup:  "keyledger",
	})
	if err != nil {
		return nil, err
	}
	for _, ep := range Endpoints() {
		handler := func(req micro.Request) { s.serveNATS(ep, req, nc.MaxPayload()) }
		for range max(workers, 1) {
			if err := svc.AddEndpoint(endpointName(ep.Name), micro.HandlerFunc(handler), micro.WithEndpointSubject("keyledger."+ep.Name)); err != nil {
				svc.Stop()
				return nil, err
			}
		}
	}
	return svc, nil
}

// DefaultWorkers is how many requests to one catalogue entry an instance
// answers at once.
const DefaultWorkers = 16

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

// replyHeadroom is what an answer leaves of the server's max_payload for
// the reply's headers.
const replyHeadroom = 1024

func (s *Service) serveNATS(ep Endpoint, req micro.Request, maxPayload int64) {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	h := req.Headers()
	info, single := requestInfo(h)
	who := parseRequester(info)
	ctx = WithClientAddr(WithSource(ctx, who.source()), who.addr())
	var res any
	var err error
	if !single {
		s.Logger.Warn("refused a request that carries more than one Nats-Request-Info header (a forged identity)", "endpoint", ep.String())
		err = errSmuggledHeader
	} else if keyID, tag := who.key(); keyID != "" && header(h, HeaderAuthorization) == "" {
		res, err = s.CallAsKey(ctx, ep, keyID, tag, header(h, HeaderIdempotencyKey), req.Data())
	} else {
		res, err = s.Call(ctx, ep, header(h, HeaderAuthorization), header(h, HeaderIdempotencyKey), req.Data())
	}
	if err == nil {
		body, merr := json.Marshal(res)
		switch {
		case merr != nil:
			err = merr
		case maxPayload > 0 && int64(len(body)) > maxPayload-replyHeadroom:
			// Sent, it would be refused by the client library, and the
			// caller would wait out its timeout with no word of why.
			err = keyledger.Errorf(keyledger.ELimitReached, "the answer is %d bytes, more than this NATS server carries (max_payload %d); ask for fewer (a lower limit), or use HTTP",
				len(body), maxPayload)
			s.Logger.Warn("an answer was too large for NATS", "endpoint", ep.String(), "bytes", len(body), "max_payload", maxPayload)
		default:
			if rerr := req.Respond(body); rerr != nil {
				s.Logger.Warn("sending an answer failed", "endpoint", ep.String(), "bytes", len(body), "err", rerr)
			}
			return
		}
	}
	code := keyledger.ErrorCode(err)
	if code == keyledger.EInternal {
		s.Logger.Error("request failed", "endpoint", ep.String(), "err", err)
	} else {
		s.Logger.Debug("request refused", "endpoint", ep.String(), "code", code)
	}
	// Answered before the handler returns (see ServeNATS), so req.Error is
	// safe and micro counts the error in its stats. The description is the
	// code alone: micro shows the last one to anyone who may ask for
	// $SRV.STATS, and a message names other users' keys and IDs; the
	// caller's message is in the body.
	_ = req.Error(strconv.Itoa(keyledger.HTTPStatus(code)), code, keyledger.ErrorJSON(err),
		micro.WithHeaders(micro.Headers{"Keyledger-Error-Code": []string{code}}))
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
