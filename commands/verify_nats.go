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
				code := keyledger.ErrorCode(err)
				_ = r.Error(strconv.Itoa(keyledger.HTTPStatus(code)), keyledger.ErrorMessage(err), keyledger.ErrorJSON(err))
				return
			}
		}
		if len(r.Data()) > verifier.MaxRequest { // as over HTTP
			err := keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", verifier.MaxRequest)
			_ = r.Error("400", keyledger.ErrorMessage(err), keyledger.ErrorJSON(err))
			return
		}
		req, err := verifier.DecodeRequest(r.Data())
		if err != nil {
			_ = r.Error("400", keyledger.ErrorMessage(err), keyledger.ErrorJSON(err))
			return
		}
		res := x.Verify(req.Key, req.Scope, req.IP)
		buf := verifyBuffers.Get().(*[]byte)
		*buf = res.AppendJSON((*buf)[:0])
		_ = r.Respond(*buf) // Respond has copied the bytes when it returns
		verifyBuffers.Put(buf)
	})
}
