package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/keyledger/keyledger/web"
	"github.com/oklog/ulid/v2"
)

// indexWithKey is an enabled index holding one key; it returns the token.
func indexWithKey(tb testing.TB, scopes ...string) (*verifier.Index, string) {
	x := verifier.NewIndex()
	s := keyledger.DefaultSettings()
	s.Enabled = true
	x.Apply(events.Recorded{Seq: 1, Event: &events.SettingsChanged{Settings: s}})
	id := ulid.Make().String()
	var secret [32]byte
	token, hash := keyledger.NewToken(id, secret)
	x.Apply(events.Recorded{Seq: 2, Event: &events.KeyIssued{Meta: events.Meta{At: time.Now()}, KeyID: id, Owner: "O", SecretHash: hash, Scopes: scopes}})
	return x, token
}

// BenchmarkHTTPHandler measures what POST /v1/verify adds to net/http:
// reading, decoding, verifying and encoding one request.
func BenchmarkHTTPHandler(b *testing.B) {
	x, tok := indexWithKey(b, "read")
	h := web.VerifyHandler(x, nil)
	body := `{"key":"` + tok + `","scope":"read"}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/verify", strings.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func TestVerifyBodyIsReadStrictly(t *testing.T) {
	x, tok := indexWithKey(t)
	h := web.VerifyHandler(x, nil)
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"key":"` + tok + `"}`, 200, ""},
		{` { "ip" : "10.0.0.1" ,` + "\n" + `"key":"` + tok + `", "scope":"" } `, 200, ""},
		{`{"key":"` + tok[:10] + `\u005f` + tok[11:] + `"}`, 200, "malformed"}, // an escape goes through encoding/json
		{`{}`, 200, "malformed"},
		{`{"key":"` + tok + `","colour":"red"}`, 400, ""},
		{`{"key":1}`, 400, ""},
		{`{"key":"a",}`, 400, ""},
		{`{"key":"a"} {"key":"b"}`, 400, ""},
		{`[]`, 400, ""},
		{`null`, 400, ""},
		{`{"key":"` + tok + `","scope":"` + strings.Repeat("é", verifier.MaxRequest) + `"}`, 400, ""}, // over the size limit
		{``, 400, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/verify", strings.NewReader(tc.body)))
		if w.Code != tc.status {
			t.Fatalf("%s: HTTP %d, want %d: %s", tc.body, w.Code, tc.status, w.Body)
		}
		if tc.status == 200 && tc.code != "" && !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`) {
			t.Fatalf("%s: %s, want code %s", tc.body, w.Body, tc.code)
		}
		if tc.status == 400 && (!strings.Contains(w.Body.String(), `"code":"invalid"`) || strings.Contains(w.Body.String(), "invalid: ")) {
			t.Fatalf("%s: %s", tc.body, w.Body) // the code once, not again in the message
		}
	}
}
