package verifier

import (
	"net/http"
	"strconv"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go/micro"
)

// Authorize checks the caller's own bearer token when verification requires
// one; nil lets anyone verify (gateways present the user's key).
type Authorize func(bearer string) error

// jsonContentType is shared by every response; net/http only reads it.
var jsonContentType = []string{"application/json"}

// HTTPHandler serves POST /v1/verify.
func (x *Index) HTTPHandler(authorize Authorize) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		fail := func(err error) {
			w.WriteHeader(keyledger.HTTPStatus(keyledger.ErrorCode(err)))
			w.Write(keyledger.ErrorJSON(err))
		}
		if authorize != nil {
			if err := authorize(r.Header.Get("Authorization")); err != nil {
				fail(err)
				return
			}
		}
		buf, err := readBody(r.Body)
		defer buffers.Put(buf)
		if err != nil {
			fail(keyledger.Errorf(keyledger.EInvalid, "body: %v", err))
			return
		}
		req, err := decodeRequest(*buf)
		if err != nil {
			fail(err)
			return
		}
		res := x.Verify(req.Key, req.Scope, req.IP)
		*buf = res.AppendJSON((*buf)[:0])
		w.Write(*buf)
	})
}

// NATSHandler serves keyledger.verify. It answers on the subscription's own
// goroutine: a verification is far cheaper than starting one.
func (x *Index) NATSHandler(authorize Authorize) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		if authorize != nil {
			if err := authorize(r.Headers().Get("Authorization")); err != nil {
				code := keyledger.ErrorCode(err)
				_ = r.Error(strconv.Itoa(keyledger.HTTPStatus(code)), keyledger.ErrorMessage(err), keyledger.ErrorJSON(err))
				return
			}
		}
		req, err := decodeRequest(r.Data())
		if err != nil {
			_ = r.Error("400", keyledger.ErrorMessage(err), keyledger.ErrorJSON(err))
			return
		}
		res := x.Verify(req.Key, req.Scope, req.IP)
		buf := buffers.Get().(*[]byte)
		*buf = res.AppendJSON((*buf)[:0])
		_ = r.Respond(*buf) // Respond has copied the bytes when it returns
		buffers.Put(buf)
	})
}

// AppendJSON appends the result as JSON, as encoding/json would write it,
// without reflection.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	if r.Code != "" {
		b = append(b, `,"code":"`...)
		b = append(b, r.Code...)
		b = append(b, '"')
	}
	if r.KeyID != "" {
		b = append(b, `,"key_id":"`...)
		b = append(b, r.KeyID...)
		b = append(b, `","owner":"`...)
		b = append(b, r.Owner...)
		b = append(b, '"')
	}
	if len(r.Scopes) > 0 {
		// Scopes are validated at issue to letters, digits and :._/*-,
		// none of which JSON escapes.
		b = append(b, `,"scopes":[`...)
		for i, s := range r.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, s...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if !r.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":"`...)
		b = r.ExpiresAt.AppendFormat(b, "2006-01-02T15:04:05Z07:00")
		b = append(b, '"')
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	return append(b, '}')
}
