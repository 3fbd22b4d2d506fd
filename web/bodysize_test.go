package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/web"
)

// askToSend sends only the head of a POST that declares a length bytes
// body and asks with Expect: 100-continue, as curl does for large bodies,
// then returns the first response: the refusal, not 100 Continue.
func askToSend(t *testing.T, addr, path, token string, length int) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n", path, length)
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: no answer to a %d-byte body not yet sent: %v", path, length, err)
	}
	defer res.Body.Close()
	var reply struct {
		Error struct{ Code, Message string }
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &reply); err != nil {
		t.Fatalf("%s: %s %q is not the error JSON", path, res.Status, raw)
	}
	return res.StatusCode, reply.Error.Code + ": " + reply.Error.Message
}

// A client that declares a body over the limit and waits for 100 Continue
// hears why it is refused before it sends the body, and who may call is
// still checked first.
func TestDeclaredOversizeBodyIsRefusedBeforeItIsSent(t *testing.T) {
	a, l := newAPI(t)
	addr := strings.TrimPrefix(a.base, "http://")
	if st, msg := askToSend(t, addr, "/v1/cmd/key/issue", l.Token, 10<<20); st != 400 || !strings.HasPrefix(msg, "invalid: body: larger than") {
		t.Errorf("admin, 10 MiB body: %d %s; want 400 invalid, larger than", st, msg)
	}
	if st, msg := askToSend(t, addr, "/v1/cmd/key/issue", "", 10<<20); st != 401 || !strings.HasPrefix(msg, "unauthenticated") {
		t.Errorf("no key, 10 MiB body: %d %s; want 401 unauthenticated", st, msg)
	}
	x, _ := indexWithKey(t)
	srv := httptest.NewServer(web.VerifyHandler(x, nil))
	t.Cleanup(srv.Close)
	if st, msg := askToSend(t, strings.TrimPrefix(srv.URL, "http://"), "/v1/verify", "", 1<<20); st != 400 || !strings.HasPrefix(msg, "invalid: body: larger than") {
		t.Errorf("verify, 1 MiB body: %d %s; want 400 invalid, larger than", st, msg)
	}
	// Within the limit, the server asks for the body and answers on it.
	if st, body := a.call("query.settings", l.Token, `{}`); st != 200 {
		t.Errorf("a small body after the refusals: %d %v", st, body)
	}
}
