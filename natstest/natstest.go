// Package natstest starts real in-process NATS servers with JetStream for
// tests: one node, or a cluster whose streams can be R3. Nothing is mocked;
// every server stores to the test's temporary directory. NATSTEST_LOG=1
// shows the servers' logs.
package natstest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RunServer starts one JetStream server on a free loopback port and stops it
// when the test ends.
func RunServer(tb testing.TB) *server.Server {
	tb.Helper()
	ns := start(tb, &server.Options{
		ServerName: "solo",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	})
	return ns
}

// RunCluster starts an n-node JetStream cluster on loopback, routed through
// every node, and waits until it has a meta leader.
func RunCluster(tb testing.TB, n int) []*server.Server {
	tb.Helper()
	return RunClusterWith(tb, n, func() *server.Options { return &server.Options{} })
}

// RunClusterWith is RunCluster with each node's options starting from
// base() (accounts, authorization and the like); natstest sets the name,
// addresses, storage and routes.
func RunClusterWith(tb testing.TB, n int, base func() *server.Options) []*server.Server {
	tb.Helper()
	return runCluster(tb, n, base, 0)
}

// RunClusterLagging is RunCluster with the last node behind: everything on
// its routes reaches it, and leaves it, lag late (lagproxy.go). The others
// hold a quorum between them, so writes are acknowledged before that node
// has them: the replica a reader on a slow link would be talking to.
func RunClusterLagging(tb testing.TB, n int, lag time.Duration) []*server.Server {
	tb.Helper()
	return runCluster(tb, n, func() *server.Options { return &server.Options{} }, lag)
}

func runCluster(tb testing.TB, n int, base func() *server.Options, lag time.Duration) []*server.Server {
	// JetStream clustering wants its routes configured at start, so the
	// cluster ports are reserved first and every node routes to every other.
	// A lagging last node is reached, and reaches every other, through
	// proxies, so that every route it has is slow.
	ports := freePorts(tb, n)
	urls := make([]string, n)
	for i, p := range ports {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	var lagged string
	var slowURLs []string // the lagging node's routes, each through a proxy
	if lag > 0 {
		for _, p := range ports[:n-1] {
			slowURLs = append(slowURLs, "nats://"+startLagProxy(tb, fmt.Sprintf("127.0.0.1:%d", p), lag))
		}
		lagged = startLagProxy(tb, fmt.Sprintf("127.0.0.1:%d", ports[n-1]), lag)
		urls[n-1] = "nats://" + lagged
	}
	var nodes []*server.Server
	for i := range n {
		opts := base()
		opts.ServerName, opts.Host, opts.Port = fmt.Sprintf("n%d", i+1), "127.0.0.1", -1
		opts.JetStream, opts.StoreDir, opts.NoLog, opts.NoSigs = true, tb.TempDir(), true, true
		opts.Cluster = server.ClusterOpts{Name: "keyledger-test", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = server.RoutesFromStr(strings.Join(urls, ","))
		if lag > 0 && i == n-1 {
			opts.Cluster.Advertise, opts.Routes = lagged, server.RoutesFromStr(strings.Join(slowURLs, ","))
		}
		nodes = append(nodes, start(tb, opts))
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if clusterReady(nodes) {
			return nodes
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("natstest: %d-node cluster has no JetStream meta leader after 20s", n)
	return nil
}

// freePorts reserves n loopback ports by listening and closing; another
// process could take one in between, which a test would report loudly.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natstest: %v", err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	return ports
}

// clusterReady reports whether every node is routed and current, and the
// meta leader has heard from every peer: until it has, it refuses to place
// a replicated stream ("no suitable peers for placement").
func clusterReady(nodes []*server.Server) bool {
	placeable := false
	for _, ns := range nodes {
		if !ns.JetStreamIsCurrent() || ns.NumRoutes() < len(nodes)-1 {
			return false
		}
		if ns.JetStreamIsLeader() {
			placeable = len(ns.JetStreamClusterPeers()) == len(nodes)
		}
	}
	return placeable
}

func start(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	opts.NoLog = os.Getenv("NATSTEST_LOG") == ""
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	if !opts.NoLog {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("natstest: server %s not ready", opts.ServerName)
	}
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Connect opens a client connection to ns, closed when the test ends.
func Connect(tb testing.TB, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// StreamLeader returns the server leading stream (in the default account)
// once one is elected. With RunClusterLagging it is never the lagging last
// node: that one is asked, through nc, to step down until another leads.
func StreamLeader(tb testing.TB, nodes []*server.Server, nc *nats.Conn, stream string) *server.Server {
	tb.Helper()
	for range 200 {
		for i, n := range nodes {
			if !n.JetStreamIsStreamLeader("$G", stream) {
				continue
			}
			if i < len(nodes)-1 {
				return n
			}
			_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("natstest: stream %s has no leader but the last node", stream)
	return nil
}
