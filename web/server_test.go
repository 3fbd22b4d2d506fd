package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledgertest"
	"github.com/keyledger/keyledger/web"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// api is an HTTP client for a real server that checks every request and
// response against the server's own /v1/openapi.json with a real OpenAPI
// validator, and remembers which operations it reached.
type api struct {
	t       *testing.T
	base    string
	check   validator.Validator
	mu      sync.Mutex
	reached map[string]bool // "POST /v1/cmd/key/issue" → seen
}

func newAPI(t *testing.T) (*api, *ledgertest.Ledger) {
	t.Helper()
	l := ledgertest.New(t)
	srv := web.NewServer("127.0.0.1:0", l.Service, func() error { return nil })
	srv.Version = "test"
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	res, err := http.Get(srv.URL() + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(res.Body)
	res.Body.Close()
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("openapi.json: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("openapi.json is not valid OpenAPI: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	return &api{t: t, base: srv.URL(), check: v, reached: map[string]bool{}}, l
}

// call posts body to the catalogue entry name with token, checks the exchange
// against the document, and returns the status and decoded reply.
func (a *api) call(name, token, body string) (int, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.base+web.HTTPPath(name), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The validator reads both bodies again.
	req.Body = io.NopCloser(strings.NewReader(body))
	res.Body = io.NopCloser(bytes.NewReader(raw))
	if ok, errs := a.check.ValidateHttpResponse(req, res); !ok {
		for _, e := range errs {
			a.t.Errorf("%s → %d %s: reply does not match openapi.json: %s (%s)", name, res.StatusCode, raw, e.Message, e.Reason)
		}
	}
	a.mu.Lock()
	a.reached[name] = true
	a.mu.Unlock()
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			a.t.Fatalf("%s: reply is not JSON: %s", name, raw)
		}
	}
	return res.StatusCode, out
}

func code(reply map[string]any) string {
	if e, ok := reply["error"].(map[string]any); ok {
		return fmt.Sprint(e["code"])
	}
	return ""
}

// Every catalogue entry works over HTTP, and every reply, success or error,
// is what the OpenAPI document says.
func TestEveryEndpointOverHTTPMatchesTheDocument(t *testing.T) {
	a, l := newAPI(t)
	admin := l.Token
	_, dev := l.Developer(t, "dev")
	st, user := a.call("cmd.user.register", admin, `{"name":"svc","kind":"service","roles":["developer"]}`)
	if st != 200 {
		t.Fatalf("register: %d %v", st, user)
	}
	uid := user["user_id"].(string)
	steps := []struct {
		name, token, body string
	}{
		{"query.settings", dev, `{}`},
		{"query.whoami", dev, `{}`},
		{"query.audit.suspicious", admin, `{"window":"PT1H"}`},
		{"cmd.settings.set", admin, `{"max_active_keys_per_user":50,"default_expiry":"P30D"}`},
		{"query.users", admin, `{"q":"svc"}`},
		{"cmd.user.roles", admin, fmt.Sprintf(`{"user_id":%q,"roles":["developer","auditor"]}`, uid)},
		{"cmd.key.issue", admin, fmt.Sprintf(`{"owner":%q,"name":"deploy","scopes":["read"],"allowed_cidrs":["10.0.0.0/8"],"rate_limit":{"limit":10,"per":"PT1M"}}`, uid)},
	}
	for _, s := range steps {
		if st, reply := a.call(s.name, s.token, s.body); st != 200 {
			t.Fatalf("%s: %d %v", s.name, st, reply)
		}
	}
	st, page := a.call("query.keys", admin, fmt.Sprintf(`{"owner":%q}`, uid))
	keys, _ := page["keys"].([]any)
	if st != 200 || len(keys) != 1 {
		t.Fatalf("query.keys: %d %v", st, page)
	}
	keyID := keys[0].(map[string]any)["key_id"].(string)
	for _, s := range []struct{ name, body string }{
		{"query.key", fmt.Sprintf(`{"key_id":%q}`, keyID)},
		{"cmd.key.update", fmt.Sprintf(`{"key_id":%q,"name":"deploy-2"}`, keyID)},
		{"cmd.key.revoke_matching", fmt.Sprintf(`{"owner":%q,"dry_run":true}`, uid)},
		{"cmd.key.revoke", fmt.Sprintf(`{"key_ids":[%q],"reason":"rotated"}`, keyID)},
		{"cmd.key.regenerate", fmt.Sprintf(`{"key_id":%q}`, keyID)},
		{"cmd.key.delete", fmt.Sprintf(`{"key_ids":[%q]}`, keyID)},
		{"cmd.user.deactivate", fmt.Sprintf(`{"user_id":%q}`, uid)},
	} {
		if st, reply := a.call(s.name, admin, s.body); st != 200 {
			t.Fatalf("%s: %d %v", s.name, st, reply)
		}
	}
	st, trail := a.call("query.audit", admin, fmt.Sprintf(`{"key_id":%q,"limit":2}`, keyID))
	entries, _ := trail["entries"].([]any)
	if st != 200 || len(entries) != 2 || trail["next_cursor"] == "" {
		t.Fatalf("query.audit: %d %v", st, trail)
	}
	if src, _ := entries[0].(map[string]any)["source"].(string); !strings.HasPrefix(src, "http 127.0.0.1:") {
		t.Errorf("audit entry source %q, want the HTTP client's address", src)
	}
	if st, reply := a.call("query.audit.trace", admin, fmt.Sprintf(`{"key_id":%q}`, keyID)); st != 200 {
		t.Fatalf("query.audit.trace: %d %v", st, reply)
	}
	if st, reply := a.call("query.audit.prove", admin, fmt.Sprintf(`{"key_id":%q}`, keyID)); st != 503 || code(reply) != "unavailable" {
		t.Fatalf("query.audit.prove before any checkpoint: %d %v", st, reply)
	}
	// Skipping an event needs halted projections; on a healthy ledger it is
	// a conflict, documented like any error.
	if st, reply := a.call("cmd.ops.skip", admin, `{"seq":1,"reason":"nothing is halted"}`); st != 409 || code(reply) != "conflict" {
		t.Fatalf("cmd.ops.skip on a running ledger: %d %v", st, reply)
	}
	for _, ep := range commands.Endpoints() {
		if !a.reached[ep.Name] {
			t.Errorf("%s was not exercised over HTTP", ep.Name)
		}
	}
}

// Each error code reaches an HTTP client with its status, its code and a
// message, as the document describes.
func TestErrorCodesMapToHTTPStatuses(t *testing.T) {
	a, l := newAPI(t)
	admin := l.Token
	_, dev := l.Developer(t, "dev")
	_, none := l.User(t, "nobody")
	a.call("cmd.settings.set", admin, `{"max_active_keys_per_user":2}`)
	a.call("cmd.key.issue", dev, `{"name":"taken"}`) // dev now holds 2 keys
	for _, tc := range []struct {
		name, endpoint, token, body string
		status                      int
		code                        string
	}{
		{"malformed_json", "cmd.key.issue", dev, `{"name":`, 400, keyledger.EInvalid},
		{"unknown_field", "cmd.key.issue", dev, `{"nmae":"x"}`, 400, keyledger.EInvalid},
		{"hostile_id", "query.key", admin, `{"key_id":"*"}`, 400, keyledger.EInvalid},
		{"no_token", "query.keys", "", `{}`, 401, keyledger.EUnauthenticated},
		{"garbage_token", "query.keys", "kl_garbage", `{}`, 401, keyledger.EUnauthenticated},
		{"no_role", "query.keys", none, `{}`, 403, keyledger.EForbidden},
		{"developer_sets_policy", "cmd.settings.set", dev, `{"enabled":false}`, 403, keyledger.EForbidden},
		{"unknown_key", "query.key", admin, `{"key_id":"01J00000000000000000000000"}`, 404, keyledger.ENotFound},
		{"name_taken", "cmd.key.issue", admin, `{"name":"taken","owner":"dev"}`, 409, keyledger.EConflict},
		{"limit", "cmd.key.issue", dev, `{"name":"third"}`, 422, keyledger.ELimitReached},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, reply := a.call(tc.endpoint, tc.token, tc.body)
			if st != tc.status || code(reply) != tc.code {
				t.Fatalf("got %d %v; want %d %s", st, reply, tc.status, tc.code)
			}
			if msg := reply["error"].(map[string]any)["message"]; msg == "" {
				t.Fatal("no message")
			}
		})
	}
	a.call("cmd.settings.set", admin, `{"enabled":false}`)
	if st, reply := a.call("cmd.key.issue", admin, `{"name":"x"}`); st != 403 || code(reply) != keyledger.EDisabled {
		t.Fatalf("issue while disabled: %d %v", st, reply)
	}
}

// TestUnknownRoutesAnswerWithTheErrorJSON: a client that gets the path or
// the method wrong reads the same error JSON as from any endpoint, not the
// mux's plain text, and a wrong method says which one to use.
func TestUnknownRoutesAnswerWithTheErrorJSON(t *testing.T) {
	a, _ := newAPI(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/cmd/key/issue", 405, keyledger.EInvalid, "POST"},
		{"DELETE", "/v1/openapi.json", 405, keyledger.EInvalid, "GET"},
		{"POST", "/v1/cmd/key/nope", 404, keyledger.ENotFound, ""},
		{"GET", "/v1/", 404, keyledger.ENotFound, ""},
		{"POST", "/v1/cmd/key/issue/extra", 404, keyledger.ENotFound, ""},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, a.base+tc.path, strings.NewReader("{}"))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var reply map[string]any
			if err := json.NewDecoder(res.Body).Decode(&reply); err != nil {
				t.Fatalf("%d: body is not JSON: %v", res.StatusCode, err)
			}
			if res.StatusCode != tc.status || code(reply) != tc.code || res.Header.Get("Allow") != tc.allow {
				t.Fatalf("got %d %v (Allow %q); want %d %s (Allow %q)", res.StatusCode, reply, res.Header.Get("Allow"), tc.status, tc.code, tc.allow)
			}
		})
	}
}

// TestOpenAPIDescribesLive: GET /v1/live, which the console uses, is in
// the document, and so is the Notice its events carry, field by field.
func TestOpenAPIDescribesLive(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(web.OpenAPI("test"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/v1/live"]["get"]; !ok {
		t.Fatal("GET /v1/live is not in the OpenAPI document")
	}
	notice := doc.Components.Schemas["Notice"].Properties
	for _, field := range []string{"seq", "action", "key_id", "owner", "at"} {
		if _, ok := notice[field]; !ok {
			t.Errorf("Notice in the OpenAPI document has no %s: %v", field, notice)
		}
	}
}

// TestTokensInPathsAndTwoAuthorizations: a token pasted into the URL is
// not repeated by the 404 (no error repeats a token); two Authorization
// headers are refused, since a proxy reading the last would disagree with
// keyledger about who is calling.
func TestTokensInPathsAndTwoAuthorizations(t *testing.T) {
	a, l := newAPI(t)
	req, _ := http.NewRequest("POST", a.base+"/v1/"+l.Token, strings.NewReader("{}"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	secret := l.Token[strings.LastIndexByte(l.Token, '_')+1:]
	if res.StatusCode != 404 || strings.Contains(string(raw), secret) {
		t.Fatalf("a token in the path: %d %s", res.StatusCode, raw)
	}
	// The catalogue's endpoints; /v1/verify (with --verify-token-required)
	// and /v1/live read the header through the same function.
	req, _ = http.NewRequest("POST", a.base+web.HTTPPath("query.whoami"), strings.NewReader("{}"))
	req.Header.Add("Authorization", "Bearer "+l.Token)
	req.Header.Add("Authorization", "Bearer kl_other")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(raw), "more than one Authorization") {
		t.Errorf("two Authorization headers: %d %s", res.StatusCode, raw)
	}
}
