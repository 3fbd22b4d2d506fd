package commands

import (
	"net/netip"
	"strconv"
	"sync"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/verifier"
	"github.com/nats-io/nats.go/micro"
)

// verifyBuffers recycles response buffers on the NATS verify path.
var verifyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// VerifyHandler serves keyledger.verify from x, as a micro endpoint.
// authorize, if set, checks the caller's own Authorization header first. It
// answers on the subscription's own goroutine: a verification is far
// cheaper than starting one.
func VerifyHandler(x *verifier.Index, authorize verifier.Authorize) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		if authorize != nil {
			// The verify import shares no identity (it costs every
			// verification): the caller's address is unknown here.
			if err := authorize(r.Headers().Get(HeaderAuthorization), netip.Addr{}); err != nil {
				verifyError(r, err)
				return
			}
		}
		if len(r.Data()) > verifier.MaxRequest { // as over HTTP
			verifyError(r, keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", verifier.MaxRequest))
			return
		}
		req, err := verifier.DecodeRequest(r.Data())
		if err != nil {
			verifyError(r, err)
			return
		}
		res := x.Verify(req.Key, req.Scope, req.IP)
		buf := verifyBuffers.Get().(*[]byte)
		*buf = res.AppendJSON((*buf)[:0])
		_ = r.Respond(*buf) // Respond has copied the bytes when it returns
		verifyBuffers.Put(buf)
	})
}

// verifyError refuses a verification (or a gateway's usage report). As
// for every other endpoint (see
// ServeNATS), the description micro keeps for $SRV.STATS is the code
// alone: the message can quote what the caller sent (a token given as a
// field name) or name another key, and anyone may read the stats; the
// caller's message is in the body.
func verifyError(r micro.Request, err error) {
	code := keyledger.ErrorCode(err)
	_ = r.Error(strconv.Itoa(keyledger.HTTPStatus(code)), code, keyledger.ErrorJSON(err),
		micro.WithHeaders(micro.Headers{"Keyledger-Error-Code": []string{code}}))
}
