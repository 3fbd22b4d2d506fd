package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/nats-io/nats.go"
)

// authz is a running server with a cast of callers: one per role, one per
// way a token stops working, and another owner (bob) whose keys they ask
// about.
type authz struct {
	t      *testing.T
	m      *Main
	nc     *nats.Conn
	admin  string            // the bootstrap admin's Authorization header
	header map[string]string // caller → Authorization header value
	user   map[string]string // role → the caller's own user ID
	bob    string
	n      int
}

// missingID is a well-formed ID nothing has.
const missingID = "01J9ZZZZZZZZZZZZZZZZZZZZZZ"

func newAuthz(t *testing.T) *authz {
	clk := &clock{}
	dir := t.TempDir()
	m := run(t, newMain(dir, func(m *Main) { m.Now = clk.Now }))
	// As keyledger's own user: the matrix checks the service's own
	// authorization of each Authorization header, which a client's
	// connection would not get to (NATS permissions, see attack_test.go).
	nc, err := nats.Connect(m.ClientURL(), serviceOption(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	a := &authz{t: t, m: m, nc: nc, admin: "Bearer " + strings.TrimSpace(string(tok)),
		header: map[string]string{}, user: map[string]string{}}
	a.must("cmd.settings.set", `{"enabled":true,"max_active_keys_per_user":1000,"max_expiry":"P1Y","default_expiry":"P90D"}`)
	adminKey, _, _ := keyledger.ParseToken(strings.TrimSpace(string(tok)))
	var k keyledger.Key
	json.Unmarshal(a.must("query.key", `{"key_id":"`+adminKey+`"}`), &k)
	a.user["admin"], a.header["admin"] = k.Owner, a.admin

	for role, roles := range map[string]string{"developer": `["developer"]`, "auditor": `["auditor"]`, "none": `[]`} {
		a.user[role] = a.register(role, roles)
		_, a.header[role] = a.issue(a.user[role], "")
	}
	a.bob = a.register("bob", `["developer"]`)

	// Tokens that no longer work, all a developer's.
	dev := a.user["developer"]
	id, h := a.issue(dev, "")
	a.must("cmd.key.revoke", `{"key_ids":["`+id+`"]}`)
	a.header["revoked_token"] = h
	id, h = a.issue(dev, "")
	a.must("cmd.key.delete", `{"key_ids":["`+id+`"]}`)
	a.header["deleted_token"] = h
	_, a.header["expired_token"] = a.issue(dev, `,"expires_in":"PT2M"`)
	gone := a.register("gone", `["developer"]`)
	_, a.header["deactivated_owners_token"] = a.issue(gone, "")
	a.must("cmd.user.deactivate", `{"user_id":"`+gone+`"}`)
	devKey, _, _ := keyledger.ParseToken(strings.TrimPrefix(a.header["developer"], "Bearer "))
	var secret [32]byte
	rand.Read(secret[:])
	wrong, _ := keyledger.NewToken(devKey, secret)
	a.header["wrong_secret"] = "Bearer " + wrong
	a.header["no_header"] = ""
	a.header["basic_scheme"] = "Basic " + strings.TrimPrefix(a.header["developer"], "Bearer ")
	a.header["malformed_token"] = "Bearer kl_" + devKey + "_nope"
	a.header["token_without_scheme"] = strings.TrimPrefix(a.header["developer"], "Bearer ")
	clk.Add(3 * time.Minute) // the PT2M key is past its expiry
	return a
}

// call sends one request over a transport and returns the error code ("ok"
// for success) and the reply body.
func (a *authz) call(transport, header, name, body string) (string, []byte) {
	a.t.Helper()
	if transport == "http" {
		req, _ := http.NewRequest("POST", a.m.HTTPURL()+"/v1/"+strings.ReplaceAll(name, ".", "/"), strings.NewReader(body))
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			a.t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		if res.StatusCode == 200 {
			return "ok", data
		}
		return errorCode(a.t, data), data
	}
	msg := nats.NewMsg("keyledger." + name)
	msg.Data = []byte(body)
	if header != "" {
		msg.Header.Set(commands.HeaderAuthorization, header)
	}
	reply, err := a.nc.RequestMsg(msg, 20*time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	if reply.Header.Get("Nats-Service-Error-Code") == "" {
		return "ok", reply.Data
	}
	if got := reply.Header.Get("Keyledger-Error-Code"); got != errorCode(a.t, reply.Data) {
		a.t.Fatalf("error header %q disagrees with body %s", got, reply.Data)
	}
	return errorCode(a.t, reply.Data), reply.Data
}

func errorCode(t *testing.T, data []byte) string {
	t.Helper()
	var e struct{ Error keyledger.Error }
	if err := json.Unmarshal(data, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("error reply without a code: %s", data)
	}
	return e.Error.Code
}

// must runs a request as the bootstrap admin that has to succeed.
func (a *authz) must(name, body string) []byte {
	a.t.Helper()
	code, data := a.call("nats", a.admin, name, body)
	if code != "ok" {
		a.t.Fatalf("%s %s: %s", name, body, data)
	}
	return data
}

func (a *authz) register(name, roles string) string {
	a.n++
	var u struct {
		ID string `json:"user_id"`
	}
	json.Unmarshal(a.must("cmd.user.register", fmt.Sprintf(`{"name":"%s-%d","roles":%s}`, name, a.n, roles)), &u)
	return u.ID
}

// issue gives owner a new key and returns its ID and Authorization header.
func (a *authz) issue(owner, extra string) (string, string) {
	a.n++
	var k keyledger.Key
	json.Unmarshal(a.must("cmd.key.issue", fmt.Sprintf(`{"owner":"%s","name":"k%d"%s}`, owner, a.n, extra)), &k)
	return k.ID, "Bearer " + k.Token
}

// target resolves whose thing a row asks about: the caller's own, bob's,
// or nobody's; fresh for each call, since calls change them.
func (a *authz) targetUser(role, target string) string {
	switch target {
	case "own":
		return a.user[role]
	case "other":
		return a.register("target", `["developer"]`)
	}
	return missingID
}

func (a *authz) targetKey(role, target string, revoked bool) string {
	id := missingID
	switch target {
	case "own":
		id, _ = a.issue(a.user[role], "")
	case "other":
		id, _ = a.issue(a.bob, "")
	default:
		return id
	}
	if revoked && target == "own" && role == "developer" {
		// Revoked by herself: a key an admin revoked only an admin may
		// regenerate (commands/service_test.go covers that).
		if code, data := a.call("nats", a.header[role], "cmd.key.revoke", `{"key_ids":["`+id+`"]}`); code != "ok" {
			a.t.Fatalf("the developer revoking her own key: %s", data)
		}
	} else if revoked {
		a.must("cmd.key.revoke", `{"key_ids":["`+id+`"]}`)
	}
	return id
}

// keyAccess is what changing or showing a key answers: admins reach every
// key; developers their own, and another owner's key answers exactly as a
// missing one; auditors and role-less callers may change none.
func keyAccess(role, target string) string {
	switch {
	case role == "auditor" || role == "none":
		return "forbidden"
	case target == "missing", role == "developer" && target == "other":
		return "not_found"
	}
	return "ok"
}

// authzSpec is one endpoint's part of the matrix.
type authzSpec struct {
	targets []string
	body    func(a *authz, role, target string) string
	expect  func(role, target string) string
	perKey  bool // a multi-key command: the code is the key's in "failed"
}

var everyTarget = []string{"own", "other", "missing"}

func adminOnly(role, _ string) string {
	if role == "admin" {
		return "ok"
	}
	return "forbidden"
}

// auditorsRead: admins and auditors get want, everyone else forbidden.
func auditorsRead(want string) func(role, _ string) string {
	return func(role, _ string) string {
		if role == "admin" || role == "auditor" {
			return want
		}
		return "forbidden"
	}
}

func anyRole(role, _ string) string {
	if role == "none" {
		return "forbidden"
	}
	return "ok"
}

var authzSpecs = map[string]authzSpec{
	"cmd.settings.set": {body: func(*authz, string, string) string { return `{"enabled":true}` }, expect: adminOnly},
	"query.settings":   {body: func(*authz, string, string) string { return `{}` }, expect: anyRole},
	"cmd.user.register": {body: func(a *authz, _, _ string) string { a.n++; return fmt.Sprintf(`{"name":"new-%d"}`, a.n) },
		expect: adminOnly},
	"cmd.user.roles": {targets: everyTarget,
		body: func(a *authz, role, target string) string {
			roles := `["auditor"]`
			if target == "own" && role == "admin" {
				roles = `["admin"]` // unchanged: an admin cannot drop their own
			}
			return `{"user_id":"` + a.targetUser(role, target) + `","roles":` + roles + `}`
		},
		expect: func(role, target string) string {
			if role == "admin" && target == "missing" {
				return "not_found"
			}
			return adminOnly(role, target)
		}},
	"cmd.user.deactivate": {targets: everyTarget,
		body: func(a *authz, role, target string) string { return `{"user_id":"` + a.targetUser(role, target) + `"}` },
		expect: func(role, target string) string {
			switch {
			case role != "admin":
				return "forbidden"
			case target == "own":
				return "invalid" // nobody deactivates themselves
			case target == "missing":
				return "not_found"
			}
			return "ok"
		}},
	"query.users": {body: func(*authz, string, string) string { return `{}` }, expect: anyRole},
	"cmd.key.issue": {targets: everyTarget,
		body: func(a *authz, role, target string) string {
			a.n++
			return fmt.Sprintf(`{"owner":"%s","name":"i%d"}`, a.targetUser(role, target), a.n)
		},
		expect: func(role, target string) string {
			switch {
			case role == "auditor" || role == "none":
				return "forbidden"
			case role == "developer" && target != "own":
				return "forbidden" // issuing for someone else is not about a key
			case target == "missing":
				return "not_found"
			}
			return "ok"
		}},
	"cmd.key.update": {targets: everyTarget, expect: keyAccess,
		body: func(a *authz, role, target string) string {
			a.n++
			return fmt.Sprintf(`{"key_id":"%s","name":"u%d"}`, a.targetKey(role, target, false), a.n)
		}},
	"cmd.key.revoke": {targets: everyTarget, expect: keyAccess, perKey: true,
		body: func(a *authz, role, target string) string {
			return `{"key_ids":["` + a.targetKey(role, target, false) + `"]}`
		}},
	"cmd.key.revoke_matching": {targets: everyTarget, expect: adminOnly,
		body: func(a *authz, role, target string) string {
			owner := map[string]string{"own": a.user[role], "other": a.bob, "missing": missingID}[target]
			return `{"owner":"` + owner + `","reason":"leak drill","dry_run":true}`
		}},
	"cmd.key.regenerate": {targets: everyTarget, expect: keyAccess,
		body: func(a *authz, role, target string) string {
			return `{"key_id":"` + a.targetKey(role, target, true) + `"}`
		}},
	"cmd.key.delete": {targets: everyTarget, expect: keyAccess, perKey: true,
		body: func(a *authz, role, target string) string {
			return `{"key_ids":["` + a.targetKey(role, target, false) + `"]}`
		}},
	"query.keys": {targets: everyTarget,
		body: func(a *authz, role, target string) string {
			owner := map[string]string{"own": a.user[role], "other": a.bob, "missing": missingID}[target]
			return `{"owner":"` + owner + `"}`
		},
		expect: func(role, target string) string {
			if role == "developer" && target != "own" {
				return "forbidden" // the same for an owner who exists and one who does not
			}
			return anyRole(role, target)
		}},
	"query.key": {targets: everyTarget,
		body: func(a *authz, role, target string) string {
			return `{"key_id":"` + a.targetKey(role, target, false) + `"}`
		},
		expect: func(role, target string) string {
			switch {
			case role == "none":
				return "forbidden"
			case target == "missing", role == "developer" && target == "other":
				return "not_found"
			}
			return "ok"
		}},
	"query.audit": {body: func(*authz, string, string) string { return `{"limit":5}` }, expect: auditorsRead("ok")},
	"query.audit.trace": {body: func(*authz, string, string) string { return `{"key_id":"` + missingID + `"}` },
		expect: auditorsRead("not_found")},
	"query.audit.prove": {body: func(*authz, string, string) string { return `{"key_id":"` + missingID + `"}` },
		expect: auditorsRead("not_found")},
	"query.audit.suspicious": {body: func(*authz, string, string) string { return `{"window":"PT1H"}` },
		expect: func(role, _ string) string {
			if role == "admin" || role == "auditor" {
				return "ok"
			}
			return "forbidden"
		}},
	// Any valid key may ask who it is, a role-less one included: the console
	// tells that account why it sees nothing.
	"query.whoami": {body: func(*authz, string, string) string { return `{}` }, expect: func(string, string) string { return "ok" }},
	"cmd.ops.skip": {body: func(*authz, string, string) string { return `{"seq":1,"reason":"nothing is halted"}` },
		expect: func(role, target string) string {
			if role == "admin" {
				return "conflict" // projections are not halted
			}
			return "forbidden"
		}},
}

// TestAuthorizationMatrix holds every catalogue endpoint, over NATS and
// HTTP, to the answer each role gets for its own, another owner's and a
// missing target, and every endpoint to unauthenticated for every token
// that no longer works.
func TestAuthorizationMatrix(t *testing.T) {
	a := newAuthz(t)
	for _, ep := range commands.Endpoints() {
		spec, ok := authzSpecs[ep.Name]
		if !ok {
			t.Errorf("%s has no row in the authorization matrix", ep.Name)
			continue
		}
		targets := spec.targets
		if targets == nil {
			targets = []string{"-"}
		}
		for _, role := range []string{"admin", "developer", "auditor", "none"} {
			for _, target := range targets {
				want := spec.expect(role, target)
				for _, transport := range []string{"nats", "http"} {
					name := fmt.Sprintf("%s/%s_on_%s_gets_%s/%s", ep.Name, role, target, want, transport)
					t.Run(name, func(t *testing.T) {
						a.t = t
						body := spec.body(a, role, target)
						got, data := a.call(transport, a.header[role], ep.Name, body)
						if got == "ok" && spec.perKey {
							var res struct{ Failed []commands.Failure }
							json.Unmarshal(data, &res)
							if len(res.Failed) > 0 {
								got = res.Failed[0].Code
							}
						}
						if got != want {
							t.Fatalf("%s as %s with %s: got %s, want %s: %s", ep.Name, role, body, got, want, data)
						}
					})
				}
			}
		}
		for _, caller := range []string{"revoked_token", "expired_token", "deleted_token", "wrong_secret",
			"deactivated_owners_token", "no_header", "basic_scheme", "malformed_token", "token_without_scheme"} {
			for _, transport := range []string{"nats", "http"} {
				t.Run(fmt.Sprintf("%s/%s_gets_unauthenticated/%s", ep.Name, caller, transport), func(t *testing.T) {
					a.t = t
					body := spec.body(a, "developer", "own")
					if got, data := a.call(transport, a.header[caller], ep.Name, body); got != "unauthenticated" {
						t.Fatalf("got %s: %s", got, data)
					}
				})
			}
		}
	}
	a.t = t
	// A past view answers the same: another owner's key is as missing.
	bobsKey, _ := a.issue(a.bob, "")
	asOf := fmt.Sprintf("seq:%d", ledgerLastSeq(t, a.m))
	for _, id := range []string{bobsKey, missingID} {
		for _, transport := range []string{"nats", "http"} {
			body := `{"key_id":"` + id + `","as_of":"` + asOf + `"}`
			if got, data := a.call(transport, a.header["developer"], "query.key", body); got != "not_found" {
				t.Errorf("developer asks for %s as of %s over %s: %s %s", id, asOf, transport, got, data)
			}
		}
	}
	if got, data := a.call("nats", a.header["auditor"], "query.key", `{"key_id":"`+bobsKey+`","as_of":"`+asOf+`"}`); got != "ok" {
		t.Errorf("auditor asks for bob's key as of %s: %s %s", asOf, got, data)
	}
	// A NATS header name in another case is still the Authorization header.
	msg := nats.NewMsg("keyledger.query.settings")
	msg.Header["authorization"] = []string{a.header["developer"]}
	if reply, err := a.nc.RequestMsg(msg, 10*time.Second); err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
		t.Errorf("lower-case authorization header over NATS: %v %s", err, reply.Data)
	}
	// The scheme is case-insensitive, on both transports.
	for _, header := range []string{"bearer ", "BEARER ", "BeArEr  "} {
		for _, transport := range []string{"nats", "http"} {
			value := header + strings.TrimPrefix(a.header["developer"], "Bearer ")
			if got, data := a.call(transport, value, "query.settings", `{}`); got != "ok" {
				t.Errorf("%q over %s: %s %s", header, transport, got, data)
			}
		}
	}
}
