package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natsauth"
)

// TestSmuggledRequestInfoIsRefused: the server replaces a client's
// Nats-Request-Info only on header lines that start after CR LF, while
// nats.go also starts a line after a bare LF, and canonicalizes names. A
// developer who hides a second Nats-Request-Info naming another key (the
// admin's, say) must not act as that key: keyledger takes the connection's
// identity only from a request that carries exactly one, the server's.
func TestSmuggledRequestInfoIsRefused(t *testing.T) {
	b := newBoundary(t, nil)
	forged := func(user, host string) string {
		return fmt.Sprintf(`{"acc":"CLIENTS","user":%q,"host":%q}`, user, host)
	}
	// The stranger's NATS user name, as the server would write it.
	_, strangerSecret, _ := keyledger.ParseToken(b.stranger)
	strangerUser := keyledger.ConnectionUser(b.strangerKey, strangerSecret)
	for name, hdr := range map[string]string{
		"behind a bare LF":    "X-A: 1\nNats-Request-Info: " + forged(strangerUser, "10.1.2.3") + "\r\n",
		"in lower case":       "nats-request-info: " + forged(strangerUser, "10.1.2.3") + "\r\n",
		"on its own line":     "Nats-Request-Info: " + forged(strangerUser, "10.1.2.3") + "\r\n",
		"twice, bare LFs":     "X-A: 1\nNats-Request-Info: " + forged(strangerUser, "") + "\nNats-Request-Info: " + forged(strangerUser, "") + "\r\n",
		"after the real one":  "X-A: 1\r\n",
		"no space, bare LF":   "X-A: 1\nNats-Request-Info:" + forged(strangerUser, "") + "\r\n",
		"upper case, bare LF": "X-A: 1\nNATS-REQUEST-INFO: " + forged(strangerUser, "") + "\r\n",
		"only bare LFs":       "X-A: 1\nNats-Request-Info: " + forged(strangerUser, "") + "\nX-B: 2\n",
		"padded name":         "X-A: 1\nNats-Request-Info : " + forged(strangerUser, "") + "\r\n",
		"tab before value":    "X-A: 1\nNats-Request-Info:\t" + forged(strangerUser, "") + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			reply := rawRequest(t, b.m.ClientURL(), b.alice, natsauth.KeyInbox(b.alice)+".smuggle", "keyledger.query.whoami", hdr, "{}")
			if strings.Contains(reply, b.strangerKey) {
				t.Fatalf("alice's connection acted as another key: %s", reply)
			}
			if name == "after the real one" && !strings.Contains(reply, b.aliceKeyID) {
				t.Fatalf("a plain header block: %s; want alice's own key", reply)
			}
		})
	}
}

// rawRequest connects to the NATS server at serverURL with token, sends one
// request whose header block is hdr (NATS/1.0 and the closing CR LF are
// added), and returns the reply's headers and body as text.
func rawRequest(t *testing.T, serverURL, token, inbox, subject, hdr, body string) string {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	conn, _ := json.Marshal(map[string]any{"verbose": false, "headers": true, "protocol": 1, "auth_token": token, "name": "smuggler"})
	hb := "NATS/1.0\r\n" + hdr + "\r\n"
	fmt.Fprintf(c, "CONNECT %s\r\nSUB %s 1\r\nHPUB %s %s %d %d\r\n%s%s\r\nPING\r\n", conn, inbox, subject, inbox, len(hb), len(hb)+len(body), hb, body)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no reply: %v", err)
		}
		if strings.HasPrefix(line, "-ERR") {
			t.Fatalf("server: %s", line)
		}
		if !strings.HasPrefix(line, "HMSG") && !strings.HasPrefix(line, "MSG") {
			continue
		}
		f := strings.Fields(line)
		var n int
		fmt.Sscan(f[len(f)-1], &n)
		buf := make([]byte, n+2)
		if _, err := ioReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf)
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
