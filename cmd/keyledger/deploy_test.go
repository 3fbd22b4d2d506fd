package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/gateway"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDeployedNATSConfig starts a NATS server from deploy/nats (what
// docker-compose.yml runs) with keys from `keyledger nats-keys` in its
// environment, and
// keyledger against it with --nats, --nats-nkey and --nats-callout-nkey:
// the CLI works with a key, strangers reach nothing, and a revoked key's
// connection is closed.
func TestDeployedNATSConfig(t *testing.T) {
	accounts, err := os.ReadFile("../../deploy/nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(accounts) != natsauth.AccountsConf {
		t.Fatal("deploy/nats/accounts.conf differs from natsauth/accounts.conf, which the embedded server runs")
	}
	conf, keys := deployedConfig(t)
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, t.TempDir(), true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)

	dir := t.TempDir()
	m := run(t, newMain(dir, func(m *Main) {
		m.NATSURL, m.NATSNkeyFile, m.CalloutNkeyFile = ns.ClientURL(), filepath.Join(keys, "keyledger.nk"), filepath.Join(keys, "callout.nk")
	}))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "deployed", "--json"))

	if _, err := nats.Connect(ns.ClientURL()); err != nil {
		t.Fatalf("keyless connect: %v", err)
	}
	stranger := connectAs(t, m, "")
	if res := verifyNATS(t, stranger, `{"key":"`+k.Token+`"}`, nil); !res.Valid {
		t.Fatalf("verify on the deployed config: %+v", res)
	}
	nkey, err := nats.NkeyOptionFromSeed(filepath.Join(keys, "keyledger.nk"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := nats.Connect(ns.ClientURL(), nkey)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	js, _ := jetstream.New(svc)
	before := streamState(t, js)
	stranger.Publish("keyledger.events.user."+k.KeyID+"._.registered", []byte(`{}`))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if sjs, err := jetstream.New(stranger); err == nil && sjs.DeleteStream(ctx, "KEYLEDGER") == nil {
		t.Fatal("a stranger removed the stream")
	}
	stranger.Flush()
	time.Sleep(100 * time.Millisecond)
	if after := streamState(t, js); after != before {
		t.Fatalf("a stranger changed the streams: %v, was %v", after, before)
	}
	if _, err := nats.Connect(ns.ClientURL(), nats.Token("kl_wrong")); err == nil {
		t.Fatal("a wrong key connected")
	}

	// Revoking the key closes its connection on a server keyledger does
	// not embed, too.
	closed := make(chan struct{})
	keyed := connectAs(t, m, k.Token, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if _, err := keyed.Request("keyledger.query.settings", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, m, admin, "key", "revoke", k.KeyID)
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("the revoked key's connection is open a second later")
	}
}

// deployedConfig copies deploy/nats into a temporary directory, writes the
// keys with `keyledger nats-keys` (twice: a second run keeps them), and
// puts nats.env in the environment, as the compose entrypoint does. It
// returns nats.conf's path and the keys' directory.
func deployedConfig(t *testing.T) (conf, keys string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"nats.conf", "accounts.conf"} {
		b, err := os.ReadFile(filepath.Join("../../deploy/nats", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	keys = filepath.Join(dir, "keys")
	for range 2 {
		if code := Run(context.Background(), []string{"nats-keys", "--out", keys}, io.Discard, io.Discard); code != 0 {
			t.Fatalf("nats-keys: exit %d", code)
		}
	}
	for _, seed := range []string{"keyledger.nk", "callout.nk"} {
		if fi, err := os.Stat(filepath.Join(keys, seed)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", seed, err, fi.Mode())
		}
	}
	env, err := os.ReadFile(filepath.Join(keys, "nats.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			t.Setenv(k, v)
		}
	}
	return filepath.Join(dir, "nats.conf"), keys
}

// TestEmbeddedKeysAreSecret: the embedded server's own keys are written
// at first start with mode 0600 and kept across restarts.
func TestEmbeddedKeysAreSecret(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	var seeds [][]byte
	for _, name := range []string{natsauth.ServiceSeedFile, natsauth.IssuerSeedFile} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", name, err, fi.Mode())
		}
		b, _ := os.ReadFile(path)
		seeds = append(seeds, b)
	}
	m.Close()
	m = MustRunMain(t, dir)
	for i, name := range []string{natsauth.ServiceSeedFile, natsauth.IssuerSeedFile} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != string(seeds[i]) {
			t.Fatalf("%s changed across a restart", name)
		}
	}
	mustCLI(t, m, filepath.Join(dir, "admin.token"), "settings", "show")
}

// TestUpgradeKeepsTheStream: a data directory from before the accounts
// (streams in the global account) starts with its history in the ledger
// account, and no second admin is bootstrapped.
func TestUpgradeKeepsTheStream(t *testing.T) {
	dir := t.TempDir()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	store := events.NewStore(js)
	ctx := context.Background()
	if err := store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	owner := "01KA0000000000000000000001"
	reg := &events.UserRegistered{Meta: events.Meta{At: time.Now().UTC(), Actor: owner}, UserID: owner, Name: "old-admin", Kind: "person", Roles: []string{"admin"}}
	if _, err := store.Append(ctx, events.OwnerSubjects(owner), 0, "", []events.Event{reg}); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	m := MustRunMain(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "admin.token")); err == nil {
		t.Fatal("the upgraded directory bootstrapped a second admin")
	}
	st, err := ledgerJetStream(t, m).Stream(ctx, "KEYLEDGER")
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := st.GetMsg(ctx, 1); err != nil || !strings.Contains(string(msg.Data), "old-admin") {
		t.Fatalf("the old history in the ledger account: %v", err)
	}
}

// TestDeployedClusterServesGateways runs deploy/nats as a 3-node cluster
// with R3 streams, as docker-compose.yml does. A gateway connected to
// another node than keyledger follows the stream through account
// GATEWAYS's imports, hears a revocation, and ends the key; a client on
// the third node hears the reduced notice.
func TestDeployedClusterServesGateways(t *testing.T) {
	conf, keys := deployedConfig(t)
	nodes := natstest.RunClusterWith(t, 3, func() *server.Options {
		opts, err := server.ProcessConfigFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	})
	dir := t.TempDir()
	m := run(t, newMain(dir, func(m *Main) {
		m.NATSURL, m.Replicas = nodes[0].ClientURL(), 3
		m.NATSNkeyFile, m.CalloutNkeyFile = filepath.Join(keys, "keyledger.nk"), filepath.Join(keys, "callout.nk")
	}))
	admin := filepath.Join(dir, "admin.token")
	mustCLI(t, m, admin, "settings", "set", "--enabled")
	k := decodeJSON[keyJSON](t, mustCLI(t, m, admin, "key", "issue", "--name", "clustered", "--json"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gwConn, err := nats.Connect(nodes[1].ClientURL(), natsauth.ConnectOptions(gatewayToken(t, m, "edge"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer gwConn.Close()
	gw, err := gateway.New(ctx, gateway.Config{Conn: gwConn})
	if err != nil {
		t.Fatalf("a gateway on another node cannot follow the R3 stream: %v", err)
	}
	defer gw.Close()
	if res := gw.Verify(k.Token, "", ""); !res.Valid {
		t.Fatalf("gateway: %+v", res)
	}
	client, err := nats.Connect(nodes[2].ClientURL(), natsauth.ConnectOptions("")...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	notices, err := client.SubscribeSync("keyledger.notify.revoked.*")
	if err != nil {
		t.Fatal(err)
	}
	client.Flush()
	// The subscription reaches keyledger's node over a route a moment
	// after the third node has it; a notice sent before then is not missed
	// by keyledger, but by the test.
	clients, err := nodes[0].LookupAccount(natsauth.ClientsAccount)
	if err != nil {
		t.Fatal(err)
	}
	for !clients.SubscriptionInterest("keyledger.notify.revoked."+k.KeyID) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	mustCLI(t, m, admin, "key", "revoke", k.KeyID, "--reason", "leaked")
	for gw.Verify(k.Token, "", "").Code != "revoked" && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if res := gw.Verify(k.Token, "", ""); res.Code != "revoked" {
		t.Fatalf("gateway after the revoke: %+v", res)
	}
	msg, err := notices.NextMsg(5 * time.Second)
	if err != nil || msg.Subject != "keyledger.notify.revoked."+k.KeyID || strings.Contains(string(msg.Data), "leaked") {
		t.Fatalf("client notice: %v %v", err, msg)
	}
}
