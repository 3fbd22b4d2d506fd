package verifier_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/events"
)

// BenchmarkHTTPHandler measures what POST /v1/verify adds to net/http:
// reading, decoding, verifying and encoding one request.
func BenchmarkHTTPHandler(b *testing.B) {
	f := newFixture()
	_, tok := f.issue(func(e *events.KeyIssued) { e.Scopes = []string{"read"} })
	h := f.x.HTTPHandler(nil)
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
	f := newFixture()
	_, tok := f.issue(nil)
	h := f.x.HTTPHandler(nil)
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
		if tc.status == 400 && !strings.Contains(w.Body.String(), `"code":"invalid"`) {
			t.Fatalf("%s: %s", tc.body, w.Body)
		}
	}
}
