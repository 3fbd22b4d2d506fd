package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/ledgertest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// TestMicroStatsCountRefusalsAndFailures: every request answered with an
// error counts in the micro service's stats, as `nats micro stats keyledger`
// shows them ($SRV.STATS), and successes do not.
func TestMicroStatsCountRefusalsAndFailures(t *testing.T) {
	l := ledgertest.New(t)
	nc := l.Store.JS.Conn()
	token := l.Token
	svc, err := commands.ServeNATS(nc, l.Service, "0.0.1", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()

	call := func(subject, bearer, body string) {
		t.Helper()
		m := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{}}
		if bearer != "" {
			m.Header.Set("Authorization", "Bearer "+bearer)
		}
		if _, err := nc.RequestMsg(m, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	call("keyledger.query.settings", token, `{}`)                                         // answered
	call("keyledger.query.settings", "", `{}`)                                            // unauthenticated
	call("keyledger.query.settings", "kl_*_>", `{}`)                                      // unauthenticated, hostile
	call("keyledger.cmd.key.revoke", token, `{"key_ids":["01J00000000000000000000000"]}`) // answered, reports the failure per key
	call("keyledger.cmd.user.register", token, `junk`)                                    // invalid body
	call("keyledger.cmd.user.register", token, `{"name":"x","roles":["root"]}`)           // invalid role

	// micro counts a request once its handler returns, a moment after the
	// reply is sent: read the stats until the last call is counted.
	stats := func() (micro.Stats, micro.Stats) {
		t.Helper()
		var st micro.Stats
		reply, err := nc.Request("$SRV.STATS.keyledger", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(reply.Data, &st); err != nil {
			t.Fatal(err)
		}
		return st, svc.Stats()
	}
	counted := func(st micro.Stats) int {
		n := 0
		for _, ep := range st.Endpoints {
			n += ep.NumRequests
		}
		return n
	}
	wire, local := stats()
	for deadline := time.Now().Add(5 * time.Second); (counted(wire) < 6 || counted(local) < 6) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		wire, local = stats()
	}
	for _, st := range []micro.Stats{wire, local} {
		got := map[string][2]int{}
		for _, ep := range st.Endpoints {
			g := got[ep.Name] // workers share a name: a row each
			got[ep.Name] = [2]int{g[0] + ep.NumRequests, g[1] + ep.NumErrors}
			if ep.NumErrors > 0 && !strings.HasPrefix(ep.LastError, "400") && !strings.HasPrefix(ep.LastError, "401") {
				t.Errorf("%s: last error %q", ep.Name, ep.LastError)
			}
			// Anyone who may ask for $SRV.STATS reads it: the code only, never
			// a message naming someone's key, user or role.
			if _, desc, _ := strings.Cut(ep.LastError, ":"); ep.NumErrors > 0 && desc != "invalid" && desc != "unauthenticated" {
				t.Errorf("%s: last error %q tells more than the code", ep.Name, ep.LastError)
			}
		}
		for name, want := range map[string][2]int{"query-settings": {3, 2}, "cmd-key-revoke": {1, 0}, "cmd-user-register": {2, 2}} {
			if got[name] != want {
				t.Errorf("%s: %d requests, %d errors; want %d, %d", name, got[name][0], got[name][1], want[0], want[1])
			}
		}
	}
}

// TestAnAnswerTooLargeForNATSIsAnError: a developer's hundred keys of
// 100 long scopes, 100 CIDRs and a long description make a default page
// of keys larger than NATS carries. The admin listing them over NATS is
// told so at once; before, the reply was dropped and the caller waited
// out its timeout. A smaller page still works.
func TestAnAnswerTooLargeForNATSIsAnError(t *testing.T) {
	l := ledgertest.New(t)
	nc := l.Store.JS.Conn()
	svc, err := commands.ServeNATS(nc, l.Service, "0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	dev, _ := l.Developer(t, "dev")
	var scopes, cidrs []string
	for i := range 100 {
		scopes = append(scopes, fmt.Sprintf("s%02d%s", i, strings.Repeat("x", 97)))
		cidrs = append(cidrs, fmt.Sprintf("2001:db8:%x::/48", i))
	}
	ctx := context.Background()
	for i := range 99 {
		if _, err := l.Service.IssueKey(ctx, dev, "", commands.IssueKey{Name: fmt.Sprint("big", i), Description: strings.Repeat("d", 1000),
			Scopes: scopes, AllowedCIDRs: cidrs}); err != nil {
			t.Fatal(err)
		}
	}
	ask := func(body string) *nats.Msg {
		t.Helper()
		m := &nats.Msg{Subject: "keyledger.query.keys", Data: []byte(body), Header: nats.Header{}}
		m.Header.Set("Authorization", "Bearer "+l.Token)
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatalf("query.keys %s: %v", body, err)
		}
		return reply
	}
	reply := ask(`{}`)
	if code := reply.Header.Get("Keyledger-Error-Code"); code != "limit_reached" || !strings.Contains(string(reply.Data), "max_payload") {
		t.Fatalf("a page over max_payload: code %q, %.300s", code, reply.Data)
	}
	if reply := ask(`{"limit":10}`); reply.Header.Get("Keyledger-Error-Code") != "" {
		t.Fatalf("a page of 10: %.300s", reply.Data)
	}
}
