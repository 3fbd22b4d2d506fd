package web_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/web"
)

// openServer starts the HTTP server with its default timeouts. No request
// in these tests gets as far as the service.
func openServer(t *testing.T) string {
	t.Helper()
	s := web.NewServer("127.0.0.1:0", nil, func() error { return nil })
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.URL(), "http://")
}

// trickle writes head, then one byte of tail every interval until the
// server hangs up, and reports how long the connection stayed open.
func trickle(t *testing.T, addr, head, tail string, interval time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(tail); i++ {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			if _, err := conn.Write([]byte{tail[i]}); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	_, _ = io.Copy(io.Discard, conn) // until the server closes it, or 45 s
	return time.Since(start)
}

func TestSlowBodyCannotHoldAConnection(t *testing.T) {
	t.Parallel()
	addr := openServer(t)
	head := "POST /v1/cmd/key/issue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
	held := trickle(t, addr, head, strings.Repeat("x", 1000), 5*time.Second)
	if held > 20*time.Second {
		t.Fatalf("a body sent at one byte every 5 s held the connection for %v", held)
	}
}

func TestSlowHeadersCannotHoldAConnection(t *testing.T) {
	t.Parallel()
	addr := openServer(t)
	held := trickle(t, addr, "GET /healthz HTTP/1.1\r\n", "X-Slow: "+strings.Repeat("y", 100), time.Second)
	if held > 10*time.Second {
		t.Fatalf("headers sent at one byte a second held the connection for %v", held)
	}
}

func TestHugeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	addr := openServer(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("z", 64<<10) + "\r\n\r\n"
	go io.WriteString(conn, req)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers (under net/http's 1 MB default): %s; want 431", resp.Status)
	}
}
