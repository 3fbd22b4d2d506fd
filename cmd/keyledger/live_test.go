package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/web"
)

// liveNotice is one event of GET /v1/live as a client reads it.
type liveNotice struct {
	Event  string
	Data   string
	Action string `json:"action"`
	KeyID  string `json:"key_id"`
	Owner  string `json:"owner"`
}

// openLive opens GET /v1/live as token; the channel closes when the server
// ends the stream.
func openLive(t *testing.T, m *Main, token string) <-chan liveNotice {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", m.HTTPURL()+"/v1/live", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /v1/live: %s %s %s", res.Status, res.Header.Get("Content-Type"), b)
	}
	out := make(chan liveNotice, 64)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var n liveNotice
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				n.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				n.Data = strings.TrimPrefix(line, "data: ")
				_ = json.Unmarshal([]byte(n.Data), &n)
			case line == "" && n.Event != "":
				out <- n
				n = liveNotice{}
			}
		}
	}()
	return out
}

func nextNotice(t *testing.T, ch <-chan liveNotice, who string) liveNotice {
	t.Helper()
	select {
	case n, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the stream ended", who)
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no notice within 10s", who)
	}
	return liveNotice{}
}

// TestLiveStreamsFollowRoles holds GET /v1/live to its promises: only a
// valid key with a role opens it, a developer hears only about their own
// keys, no secret or hash travels, a key that ends ends its stream, and an
// open stream does not hold up shutdown.
func TestLiveStreamsFollowRoles(t *testing.T) {
	m := MustRunMain(t, "")
	root := adminToken(t, m)
	type user struct {
		ID string `json:"user_id"`
	}
	type key struct {
		ID    string `json:"key_id"`
		Token string `json:"token"`
	}
	api[map[string]any](t, m, root, "cmd.settings.set", `{"enabled":true}`)
	alice := api[user](t, m, root, "cmd.user.register", `{"name":"alice","kind":"person","roles":["developer"]}`)
	bob := api[user](t, m, root, "cmd.user.register", `{"name":"bob","kind":"person","roles":["developer"]}`)
	nobody := api[user](t, m, root, "cmd.user.register", `{"name":"nobody","kind":"service","roles":[]}`)
	aliceKey := api[key](t, m, root, "cmd.key.issue", `{"owner":"`+alice.ID+`","name":"console"}`)
	aliceOther := api[key](t, m, root, "cmd.key.issue", `{"owner":"`+alice.ID+`","name":"ci"}`)
	bobKey := api[key](t, m, root, "cmd.key.issue", `{"owner":"`+bob.ID+`","name":"ci"}`)
	nobodyKey := api[key](t, m, root, "cmd.key.issue", `{"owner":"`+nobody.ID+`","name":"x"}`)

	for _, tc := range []struct{ bearer, code string }{
		{"", "unauthenticated"},
		{"Bearer kl_*>", "unauthenticated"},
		{"Bearer " + aliceKey.Token + "x", "unauthenticated"},
		{"Bearer " + strings.Repeat("ü", 4000), "unauthenticated"},
		{"Bearer " + nobodyKey.Token, "forbidden"},
	} {
		req, _ := http.NewRequest("GET", m.HTTPURL()+"/v1/live", nil)
		req.Header.Set("Authorization", tc.bearer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		secret := strings.TrimPrefix(tc.bearer, "Bearer ")
		if body.Error.Code != tc.code || (len(secret) > 5 && strings.Contains(body.Error.Message, secret)) {
			t.Fatalf("GET /v1/live with %.20q: %s %+v, want %s", tc.bearer, res.Status, body.Error, tc.code)
		}
	}

	aliceLive, adminLive := openLive(t, m, aliceKey.Token), openLive(t, m, root)
	revoke := func(id string) {
		api[map[string]any](t, m, root, "cmd.key.revoke", `{"key_ids":["`+id+`"],"reason":"test"}`)
	}
	revoke(bobKey.ID)
	revoke(aliceOther.ID)
	for _, want := range []string{bobKey.ID, aliceOther.ID} {
		if n := nextNotice(t, adminLive, "admin"); n.Event != "notice" || n.Action != "revoked" || n.KeyID != want {
			t.Fatalf("admin's stream: %+v, want the revocation of %s", n, want)
		}
	}
	n := nextNotice(t, aliceLive, "alice")
	if n.KeyID != aliceOther.ID || n.Owner != alice.ID || n.Action != "revoked" {
		t.Fatalf("alice's first notice: %+v; want her own key %s, never bob's", n, aliceOther.ID)
	}
	for _, leak := range []string{"kl_", "sha256", "secret"} {
		if strings.Contains(n.Data, leak) {
			t.Fatalf("a notice carries %q: %s", leak, n.Data)
		}
	}

	// Revoking the key a stream was opened with ends that stream, and the
	// key cannot open another.
	revoke(aliceKey.ID)
	if n := nextNotice(t, aliceLive, "alice"); n.KeyID != aliceKey.ID {
		t.Fatalf("alice's notice: %+v, want her console key's revocation", n)
	}
	select {
	case n, ok := <-aliceLive:
		if ok {
			t.Fatalf("alice's stream goes on after her key was revoked: %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alice's stream still open 5s after her key was revoked")
	}

	// An open stream does not hold up shutdown.
	start := time.Now()
	m.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with a live stream open", d)
	}
	select {
	case _, ok := <-adminLive:
		for ok {
			_, ok = <-adminLive
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the admin's stream is still open after Close")
	}
}

// TestWhoamiNamesTheCaller: the console learns from query.whoami whose key
// it holds and what to show, even for an account with no roles.
func TestWhoamiNamesTheCaller(t *testing.T) {
	m := MustRunMain(t, "")
	root := adminToken(t, m)
	api[map[string]any](t, m, root, "cmd.settings.set", `{"enabled":true}`)
	type identity struct {
		UserID string   `json:"user_id"`
		Name   string   `json:"name"`
		Roles  []string `json:"roles"`
		KeyID  string   `json:"key_id"`
		Token  string   `json:"token"`
	}
	for _, tc := range []struct {
		name, roles string
		n           int
	}{{"zoë *>", `["developer","auditor"]`, 2}, {"zoë >*", `[]`, 0}} {
		roles := tc.roles
		u := api[identity](t, m, root, "cmd.user.register", `{"name":"`+tc.name+`","kind":"person","roles":`+roles+`}`)
		k := api[identity](t, m, root, "cmd.key.issue", `{"owner":"`+u.UserID+`","name":"k"}`)
		me := api[identity](t, m, k.Token, "query.whoami", `{}`)
		if me.UserID != u.UserID || me.Name != tc.name || me.KeyID != k.KeyID || me.Token != "" || len(me.Roles) != tc.n {
			t.Fatalf("whoami with roles %s: %+v; want user %s, key %s", roles, me, u.UserID, k.KeyID)
		}
		api[map[string]any](t, m, root, "cmd.user.deactivate", `{"user_id":"`+u.UserID+`"}`)
	}
}

// TestOneUserCannotTakeEveryLiveStream: a developer who opens live streams
// and never reads them, with two keys, holds at most
// web.MaxLiveStreamsPerUser; the next is limit_reached, and the admin's
// console still gets its stream.
func TestOneUserCannotTakeEveryLiveStream(t *testing.T) {
	m := MustRunMain(t, "")
	root := adminToken(t, m)
	type user struct {
		ID string `json:"user_id"`
	}
	type key struct {
		Token string `json:"token"`
	}
	api[map[string]any](t, m, root, "cmd.settings.set", `{"enabled":true}`)
	alice := api[user](t, m, root, "cmd.user.register", `{"name":"alice","kind":"person","roles":["developer"]}`)
	keys := []key{
		api[key](t, m, root, "cmd.key.issue", `{"owner":"`+alice.ID+`","name":"one"}`),
		api[key](t, m, root, "cmd.key.issue", `{"owner":"`+alice.ID+`","name":"two"}`),
	}
	for i := range web.MaxLiveStreamsPerUser {
		openLive(t, m, keys[i%2].Token)
	}
	for _, k := range keys {
		req, _ := http.NewRequest("GET", m.HTTPURL()+"/v1/live", nil)
		req.Header.Set("Authorization", "Bearer "+k.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "limit_reached") {
			t.Fatalf("stream %d of one user: %s %s", web.MaxLiveStreamsPerUser+1, res.Status, b)
		}
	}
	openLive(t, m, root)
}
