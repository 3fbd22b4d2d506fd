package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// cluster is an n-node JetStream cluster the bench runs in its own process
// on loopback, each node storing to its own directory under dir.
type cluster struct {
	nodes []*server.Server
}

// startCluster starts n routed nodes and waits for a JetStream meta leader.
// The nodes sync to disk as nats-server does by default (every 2 minutes):
// on a cluster, durability comes from the R3 quorum.
func startCluster(dir string, n int) (*cluster, error) {
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	c := &cluster{}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("bench-n%d", i+1),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: fmt.Sprintf("%s/n%d", dir, i+1),
			NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "keyledger-bench", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
			c.shutdown()
			return nil, err
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			c.shutdown()
			return nil, err
		}
		go ns.Start()
		c.nodes = append(c.nodes, ns)
		if !ns.ReadyForConnections(10 * time.Second) {
			c.shutdown()
			return nil, fmt.Errorf("node %s not ready", opts.ServerName)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c.ready() {
			return c, nil
		}
	}
	c.shutdown()
	return nil, errors.New("cluster has no JetStream meta leader after 30s")
}

func (c *cluster) ready() bool {
	leader := false
	for _, ns := range c.nodes {
		if !ns.JetStreamIsCurrent() || ns.NumRoutes() < len(c.nodes)-1 {
			return false
		}
		leader = leader || ns.JetStreamIsLeader()
	}
	return leader
}

// url lists every node, as a client of the cluster is given it.
func (c *cluster) url() string {
	var urls []string
	for _, ns := range c.nodes {
		urls = append(urls, ns.ClientURL())
	}
	return strings.Join(urls, ",")
}

func (c *cluster) shutdown() {
	for _, ns := range c.nodes {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// freePorts reserves n loopback ports by listening and closing.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
