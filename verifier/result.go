package verifier

import (
	"net/netip"
	"strconv"
)

// Authorize checks the caller's own bearer token when verification requires
// one; nil lets anyone verify (gateways present the user's key). from is the
// caller's address, against the bearer key's allowed_cidrs (the zero Addr
// when the transport cannot tell: NATS). Transports (web, commands) call it
// before verifying.
type Authorize func(bearer string, from netip.Addr) error

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
