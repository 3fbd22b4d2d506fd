package web

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Default bounds on open HTTP connections (Server.MaxConns,
// Server.MaxConnsPerAddr).
const (
	DefaultMaxConns        = 4096
	DefaultMaxConnsPerAddr = 512
)

// limitListener bounds the connections open at once, in all and per client
// address (an IPv6 /64 counts as one address): one client holding idle
// keep-alive connections must not use up the process's open files, which
// NATS, SQLite and the stream need too. A connection past a bound is
// closed as soon as it is accepted.
type limitListener struct {
	net.Listener
	total, perAddr int
	onRefuse       func(addr string)

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int
}

func newLimitListener(ln net.Listener, total, perAddr int, onRefuse func(string)) *limitListener {
	return &limitListener{Listener: ln, total: total, perAddr: perAddr, onRefuse: onRefuse, byAddr: map[netip.Addr]int{}}
}

// clientKey is the address a connection counts against.
func clientKey(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open < l.total && l.byAddr[key] < l.perAddr
		if ok {
			l.open++
			l.byAddr[key]++
		}
		l.mu.Unlock()
		if ok {
			return &limitConn{Conn: c, l: l, key: key}, nil
		}
		c.Close()
		if l.onRefuse != nil {
			l.onRefuse(key.String())
		}
	}
}

func (l *limitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
}

// limitConn gives its place back when closed (once).
type limitConn struct {
	net.Conn
	l      *limitListener
	key    netip.Addr
	closed atomic.Bool
}

func (c *limitConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.key)
	}
	return c.Conn.Close()
}

// refusalLog logs refused connections at most once per interval, with how
// many were refused since the last line.
type refusalLog struct {
	every time.Duration
	log   func(n int64, lastAddr string)

	n    atomic.Int64
	last atomic.Int64 // Unix nanoseconds of the last line
}

func (r *refusalLog) refused(addr string) {
	n := r.n.Add(1)
	now := time.Now().UnixNano()
	if last := r.last.Load(); now-last >= int64(r.every) && r.last.CompareAndSwap(last, now) {
		r.n.Add(-n)
		r.log(n, addr)
	}
}
