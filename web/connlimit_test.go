package web

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPConnectionsAreBounded: one client holding idle keep-alive
// connections gets no more than its share; the next is closed at once,
// and a place freed is given again. The bound in all holds across
// addresses. Before, a client opened connections until the process ran
// out of open files, and HTTP, NATS and verification all stopped.
func TestHTTPConnectionsAreBounded(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan string, 100)
	ln := newLimitListener(raw, 6, 4, func(a string) { refused <- a })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	get := func(c net.Conn) bool { // one keep-alive request; false if the server closed the connection
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return false
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for i := range 4 {
		c := dial("127.0.0.1")
		if !get(c) {
			t.Fatalf("connection %d of 4 from one address refused", i+1)
		}
		held = append(held, c)
	}
	if get(dial("127.0.0.1")) {
		t.Fatal("a fifth connection from the same address was served")
	}
	if a := <-refused; !strings.HasPrefix(a, "127.0.0.1") {
		t.Fatalf("refused %q", a)
	}
	held[0].Close()
	waitServed := func(from, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !get(dial(from)); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitServed("127.0.0.1", "a place freed by closing a connection was not given again")
	// Another address has its own share, until the bound in all (6).
	for i := range 2 {
		if c := dial("127.0.0.2"); !get(c) {
			t.Fatalf("connection %d from a second address refused", i+1)
		}
	}
	if get(dial("127.0.0.3")) {
		t.Fatal("a connection past the bound in all was served")
	}
}
