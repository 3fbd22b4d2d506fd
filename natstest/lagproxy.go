package natstest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// startLagProxy listens on a free loopback port and relays every connection
// to target, each byte delivered lag after it arrived, in both directions:
// a slow link, not a broken one. It returns the address it listens on and
// stops when the test ends.
func startLagProxy(tb testing.TB, target string, lag time.Duration) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("natstest: lag proxy: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go relayLate(out, in, lag)
			go relayLate(in, out, lag)
		}
	}()
	return l.Addr().String()
}

// chunk is what one read returned, and when.
type chunk struct {
	at   time.Time
	data []byte
}

// relayLate copies from src to dst, holding each read back until lag after
// it arrived; when either side closes, both are.
func relayLate(dst io.WriteCloser, src io.ReadCloser, lag time.Duration) {
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{at: time.Now(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	defer src.Close()
	for c := range queue {
		time.Sleep(time.Until(c.at.Add(lag)))
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}
