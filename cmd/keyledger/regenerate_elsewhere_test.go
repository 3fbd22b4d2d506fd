package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestARegeneratedKeyWorksAtOnceOnAnotherInstance: a key regenerated
// through one instance is used, the moment the reply arrives, through
// another, whose follower may not have the new secret yet. It must wait
// for the stream as it does for a key issued a moment ago, not refuse the
// new token; 100 times over, both ways round.
func TestARegeneratedKeyWorksAtOnceOnAnotherInstance(t *testing.T) {
	a := run(t, newMain(t.TempDir(), nil))
	b := secondInstance(t, a, false)
	root := adminToken(t, a)
	type key struct {
		ID    string `json:"key_id"`
		Token string `json:"token"`
	}
	api[map[string]any](t, a, root, "cmd.settings.set", `{"enabled":true}`)
	k := api[key](t, a, root, "cmd.key.issue", `{"name":"rotating"}`)
	refused := 0
	for i := range 100 {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		api[map[string]any](t, from, root, "cmd.key.revoke", `{"key_ids":["`+k.ID+`"]}`)
		k = api[key](t, from, root, "cmd.key.regenerate", `{"key_id":"`+k.ID+`"}`)
		req, _ := http.NewRequest("POST", to.HTTPURL()+"/v1/query/whoami", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+k.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			refused++
			if refused == 1 {
				t.Errorf("round %d: the new token on the other instance: %s %s", i, res.Status, body)
			}
		}
	}
	if refused > 0 {
		t.Fatalf("%d of 100 new tokens refused on the other instance", refused)
	}
}
