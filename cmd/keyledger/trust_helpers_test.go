package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// serviceOption connects as keyledger itself, with the NATS key in the
// data directory dir: the only way to reach the streams.
func serviceOption(tb testing.TB, dir string) nats.Option {
	tb.Helper()
	kp, err := natsauth.ReadSeed(filepath.Join(dir, natsauth.ServiceSeedFile))
	if err != nil {
		tb.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign)
}

// ledgerJetStream is JetStream on m's embedded server as keyledger itself.
func ledgerJetStream(tb testing.TB, m *Main) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(m.ClientURL(), serviceOption(tb, m.DataDir))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// connectAs connects to m as a client with token ("" for none), closed
// when the test ends.
func connectAs(tb testing.TB, m *Main, token string, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(m.ClientURL(), append(natsauth.ConnectOptions(token), opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// gatewayToken creates a gateway credential in m's data directory.
func gatewayToken(tb testing.TB, m *Main, name string) string {
	tb.Helper()
	tok, err := natsauth.NewGatewayCredential(m.DataDir, name)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// ledgerLastSeq is the last sequence of m's event stream.
func ledgerLastSeq(tb testing.TB, m *Main) uint64 {
	tb.Helper()
	st, err := ledgerJetStream(tb, m).Stream(context.Background(), "KEYLEDGER")
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.LastSeq
}

// dataDirs maps the NATS URL of each server a test started to its data
// directory, so that helpers given only a URL (jetStreamAt) can connect as
// keyledger, the only user that may reach the streams.
var dataDirs sync.Map

// rememberDataDir records the data directory of the server at url.
func rememberDataDir(url, dir string) { dataDirs.Store(url, dir) }

// serviceOptionAt connects as keyledger to the server at url if a test
// started embedded, and is a no-op option otherwise (a server without
// accounts, such as natstest's).
func serviceOptionAt(tb testing.TB, url string) nats.Option {
	tb.Helper()
	if dir, ok := dataDirs.Load(url); ok && fileExists(filepath.Join(dir.(string), natsauth.ServiceSeedFile)) {
		return serviceOption(tb, dir.(string))
	}
	return func(*nats.Options) error { return nil }
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// secondInstance runs another keyledger instance on a's NATS server, as
// the README's "a second instance next to an embedded one" does: a's
// service key and a copy of its audit.key, and a's callout key when
// callout is set (then the two answer the auth callout in turn).
func secondInstance(t *testing.T, a *Main, callout bool) *Main {
	t.Helper()
	dir := t.TempDir()
	audit, err := os.ReadFile(filepath.Join(a.DataDir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.key"), audit, 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, newMain(dir, func(m *Main) {
		m.NATSURL = a.ClientURL()
		m.NATSNkeyFile = filepath.Join(a.DataDir, natsauth.ServiceSeedFile)
		if callout {
			m.CalloutNkeyFile = filepath.Join(a.DataDir, natsauth.IssuerSeedFile)
		}
	}))
}
