package verifier

import (
	"errors"
	"testing"

	"github.com/keyledger/keyledger"
)

// TestDecodeRequestReadsOneWayOnly: a body that is not one object, names a field twice, or
// spells a name in another case, in
// the fast path's shape or through encoding/json (other case, escapes), is
// invalid, because a cache or proxy in front may read the other value.
func TestDecodeRequestReadsOneWayOnly(t *testing.T) {
	for _, body := range []string{
		`{"key":"kl_a","scope":"read"}`,
		` { "scope" : "read" , "ip" : "10.0.0.1" , "key" : "kl_a" } `,
		`{"key":"kl_\u0061","scope":"read"}`,
		`{"k\u0065y":"kl_a"}`, // an escape that spells the name exactly
		`{}`,
	} {
		if _, err := DecodeRequest([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	for _, body := range []string{
		`{"key":"kl_victim","key":"kl_attacker"}`,
		`{"key":"kl_a","scope":"read","scope":"admin"}`,
		`{"ip":"10.0.0.1","key":"kl_a","ip":"192.0.2.1"}`,
		`{"key":"kl_a","KEY":"kl_b"}`,
		`{"key":"kl_a","k\u0065y":"kl_b"}`,
		// encoding/json would read these as key and scope; a proxy
		// matching names exactly would not.
		`{"KEY":"kl_a"}`, `{"key":"kl_a","Scope":"read"}`, "{\"\u212aey\":\"kl_a\"}", `{"\u004bey":"kl_a"}`,
		`null`, ` null `, `[]`, `"kl_a"`, `1`, `true`, ``, `{"key":"kl_a"} {}`,
	} {
		_, err := DecodeRequest([]byte(body))
		if keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("%s: %v; want invalid", body, err)
		}
		var e *keyledger.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: untyped error %v", body, err)
		}
	}
}
