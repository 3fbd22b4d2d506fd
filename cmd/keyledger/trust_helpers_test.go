package main

import (
	"path/filepath"
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
