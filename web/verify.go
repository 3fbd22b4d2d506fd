package web

import (
	"io"
	"net/http"
	"net/netip"
	"sync"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/verifier"
)

// jsonContentType is shared by every verify response; net/http only reads it.
var jsonContentType = []string{"application/json"}

// buffers recycles request and response buffers on the verify path.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// VerifyHandler serves POST /v1/verify from x. authorize, if set, checks the
// caller's own Authorization header first.
func VerifyHandler(x *verifier.Index, authorize verifier.Authorize) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		fail := func(err error) {
			w.WriteHeader(keyledger.HTTPStatus(keyledger.ErrorCode(err)))
			w.Write(keyledger.ErrorJSON(err))
		}
		if authorize != nil {
			var from netip.Addr
			if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
				from = ap.Addr()
			}
			auth, err := authorization(r)
			if err == nil {
				err = authorize(auth, from)
			}
			if err != nil {
				fail(err)
				return
			}
		}
		if r.ContentLength > verifier.MaxRequest { // unread: no 100 Continue (see readBody in server.go)
			fail(keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", verifier.MaxRequest))
			return
		}
		buf, err := readVerifyBody(r.Body)
		defer buffers.Put(buf)
		if err != nil {
			if keyledger.ErrorCode(err) != keyledger.EInvalid { // a read error, not the size
				err = keyledger.Errorf(keyledger.EInvalid, "body: %v", err)
			}
			fail(err)
			return
		}
		req, err := verifier.DecodeRequest(*buf)
		if err != nil {
			fail(err)
			return
		}
		res := x.Verify(req.Key, req.Scope, req.IP)
		*buf = res.AppendJSON((*buf)[:0])
		w.Write(*buf)
	})
}

// readVerifyBody reads at most verifier.MaxRequest bytes of r into a
// pooled buffer; give it back with buffers.Put when done.
func readVerifyBody(r io.Reader) (*[]byte, error) {
	p := buffers.Get().(*[]byte)
	b := (*p)[:0]
	for {
		if len(b) == cap(b) {
			if len(b) >= verifier.MaxRequest {
				*p = b
				return p, keyledger.Errorf(keyledger.EInvalid, "body: larger than %d bytes", verifier.MaxRequest)
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*p = b
			return p, nil
		}
		if err != nil {
			*p = b
			return p, err
		}
	}
}
