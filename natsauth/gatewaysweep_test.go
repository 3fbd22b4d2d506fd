package natsauth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go"
)

// gatewayCallout is a callout server that knows the gateway credentials in
// dir and looks at them every 20 ms.
func gatewayCallout(tb testing.TB, dir string) *calloutServer {
	return newCalloutServer(tb, func(c *Callout) {
		c.DataDir, c.WatchGatewaysEvery = dir, 20*time.Millisecond
	})
}

// openGateway opens n connections with a gateway credential.
func (s *calloutServer) openGateway(tb testing.TB, token string, n int) []*nats.Conn {
	tb.Helper()
	conns := make([]*nats.Conn, n)
	for i := range conns {
		conns[i] = s.connect(tb, token)
	}
	return conns
}

// TestWithdrawingAGatewayClosesItsConnections: a leaked gateway credential
// reads the whole stream; withdrawing it closes every connection it has
// open (more than one page of the server's listing), and leaves another
// gateway's alone.
func TestWithdrawingAGatewayClosesItsConnections(t *testing.T) {
	dir := t.TempDir()
	leaked, err := NewGatewayCredential(dir, "leaked")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewGatewayCredential(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	s := gatewayCallout(t, dir)
	thief := s.openGateway(t, leaked, connzPage+44)
	kept := s.openGateway(t, other, 3)
	time.Sleep(100 * time.Millisecond) // a look or two that changes nothing
	for _, nc := range thief {
		if nc.IsClosed() {
			t.Fatal("a gateway's connection was closed before its credential was withdrawn")
		}
	}
	if ok, err := WithdrawGatewayCredential(dir, "leaked"); err != nil || !ok {
		t.Fatalf("withdraw: %v %v", ok, err)
	}
	for i, nc := range thief {
		waitFor(t, fmt.Sprintf("the withdrawn gateway's connection %d is open", i), nc.IsClosed)
	}
	for _, nc := range kept {
		if nc.IsClosed() {
			t.Fatal("another gateway's connection was closed")
		}
	}
	if _, err := nats.Connect(s.url, append(ConnectOptions(leaked), nats.NoReconnect())...); err == nil {
		t.Fatal("the withdrawn credential connected again")
	}
	if ok, err := WithdrawGatewayCredential(dir, "leaked"); err != nil || ok {
		t.Fatalf("withdrawing again: %v %v, want no change", ok, err)
	}
}

// TestADeletedGatewayCredentialClosesItsConnections: the README's older
// way, deleting DATA/gateways/<name>, closes the gateway's connections too.
func TestADeletedGatewayCredentialClosesItsConnections(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatal(err)
	}
	s := gatewayCallout(t, dir)
	nc := s.connect(t, tok)
	if err := os.Remove(filepath.Join(dir, gatewayDir, "edge")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted gateway's connection is open", nc.IsClosed)
}

// TestAWithdrawnGatewayIsClosedAfterARestart: an instance that starts
// after the withdrawal closes the connection still open from before.
func TestAWithdrawnGatewayIsClosedAfterARestart(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatal(err)
	}
	s := newCalloutServer(t, func(c *Callout) { c.DataDir, c.WatchGatewaysEvery = dir, 0 })
	nc := s.connect(t, tok)
	if _, err := WithdrawGatewayCredential(dir, "edge"); err != nil {
		t.Fatal(err)
	}
	restarted := NewCallout(s.callout.Keys) // a new instance's memory
	restarted.DataDir, restarted.nc = dir, s.callout.nc
	if err := restarted.SweepGateways(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawn gateway's connection outlived the restart", nc.IsClosed)
}

// TestAReplacedGatewayCredentialEndsTheOldOnesConnections: withdrawn and
// made anew under the same name before any sweep, the credential's old
// connection is closed and the new one's stays; a gateway this instance
// never knew (another instance's) is left alone.
func TestAReplacedGatewayCredentialEndsTheOldOnesConnections(t *testing.T) {
	dir := t.TempDir()
	old, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatal(err)
	}
	s := newCalloutServer(t, func(c *Callout) { c.DataDir, c.WatchGatewaysEvery = dir, 0 })
	oldConn := s.connect(t, old)
	if _, err := NewGatewayCredential(dir, "edge"); keyledger.ErrorCode(err) == "" {
		t.Fatal("a credential that holds was replaced without being withdrawn")
	}
	if _, err := WithdrawGatewayCredential(dir, "edge"); err != nil {
		t.Fatal(err)
	}
	renewed, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatalf("a new credential over a withdrawn one: %v", err)
	}
	newConn := s.connect(t, renewed)
	if err := s.callout.SweepGateways(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old credential's connection is open", oldConn.IsClosed)
	time.Sleep(100 * time.Millisecond)
	if newConn.IsClosed() {
		t.Fatal("the new credential's connection was closed")
	}
	if !s.callout.gatewayHolds("elsewhere", "0123456789abcdef") {
		t.Fatal("a gateway another instance let in would be closed")
	}
	for _, bad := range []string{"", "*", ">", "a.b", "../x", "Edge"} {
		if _, err := WithdrawGatewayCredential(dir, bad); keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("withdraw %q: %v, want invalid", bad, err)
		}
	}
	if _, err := WithdrawGatewayCredential(dir, "nobody"); keyledger.ErrorCode(err) != keyledger.ENotFound {
		t.Errorf("withdraw an unknown gateway: %v, want not_found", err)
	}
}

// TestAWithdrawnGatewayIsClosedOnEveryServer: on a 3-node cluster, the
// withdrawn gateway's connections on the nodes keyledger is not connected
// to are closed too.
func TestAWithdrawnGatewayIsClosedOnEveryServer(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatal(err)
	}
	_, urls := newCalloutCluster(t, func(c *Callout) { c.DataDir, c.WatchGatewaysEvery = dir, 20*time.Millisecond })
	var conns []*nats.Conn
	for _, url := range urls {
		nc, err := nats.Connect(url, append(ConnectOptions(tok), nats.NoReconnect())...)
		if err != nil {
			t.Fatalf("gateway on %s: %v", url, err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	if _, err := WithdrawGatewayCredential(dir, "edge"); err != nil {
		t.Fatal(err)
	}
	for i, nc := range conns {
		waitFor(t, fmt.Sprintf("the withdrawn gateway's connection on node %d is open", i+1), nc.IsClosed)
	}
}

// TestAWithdrawnCredentialIsNotAddedBack: re-running the "copy the
// credential to every instance" runbook (--from) with a leaked,
// withdrawn credential does not let it in again; a new credential of that
// name may be made, or added.
func TestAWithdrawnCredentialIsNotAddedBack(t *testing.T) {
	dir := t.TempDir()
	leaked, err := NewGatewayCredential(dir, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WithdrawGatewayCredential(dir, "edge"); err != nil {
		t.Fatal(err)
	}
	if _, err := AddGatewayCredential(dir, leaked); keyledger.ErrorCode(err) != keyledger.EConflict {
		t.Fatalf("adding the withdrawn credential again: %v, want conflict", err)
	}
	if _, ok := checkGateway(dir, leaked); ok {
		t.Fatal("the withdrawn credential holds again")
	}
	fresh, err := NewGatewayCredential(t.TempDir(), "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddGatewayCredential(dir, fresh); err != nil {
		t.Fatalf("adding a new credential over the withdrawn one: %v", err)
	}
	if _, ok := checkGateway(dir, fresh); !ok {
		t.Fatal("the new credential does not hold")
	}
}

// TestOnlyRegularSmallGatewayFilesAreRead: a symbolic link (to another
// gateway's file, or to a device) or an oversized file in DATA/gateways is
// no credential, and reading it neither follows it nor reads it whole.
func TestOnlyRegularSmallGatewayFilesAreRead(t *testing.T) {
	dir := t.TempDir()
	real, err := NewGatewayCredential(dir, "real")
	if err != nil {
		t.Fatal(err)
	}
	gw := filepath.Join(dir, gatewayDir)
	if err := os.Symlink(filepath.Join(gw, "real"), filepath.Join(gw, "link")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	linked := strings.Replace(real, "klgw_real_", "klgw_link_", 1)
	if _, ok := checkGateway(dir, linked); ok {
		t.Fatal("a symbolic link to another gateway's file let its secret in under another name")
	}
	huge := strings.Repeat("0", 1<<20)
	if err := os.WriteFile(filepath.Join(gw, "huge"), []byte(huge), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readGateway(dir, "huge"); err == nil {
		t.Fatal("a 1 MiB file read as a credential")
	}
	if _, ok := checkGateway(dir, real); !ok {
		t.Fatal("the real credential no longer holds")
	}
}
