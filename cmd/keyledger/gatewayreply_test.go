package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestGatewayRepliesStayWithGateways: NATS checks the subject a gateway
// publishes to, not the reply subject it names. A gateway that names a
// client's notification, a command, an event or a usage subject as the
// reply to its stream reads must reach none of them: the answer goes back
// to the gateways' own account. No client hears the stream, keyledger gets
// no request, and nothing is stored. Other gateways do hear it, in their
// own account, and `keyledger watch` prints no stored event that is not
// what its notification subject says.
func TestGatewayRepliesStayWithGateways(t *testing.T) {
	b := newBoundary(t, nil)
	// An old revocation, which a gateway will replay on its own subject.
	mustCLI(t, b.m, b.admin, "key", "revoke", b.strangerKey)
	revokedSeq := ledgerLastSeq(t, b.m)
	js := ledgerJetStream(t, b.m)
	before := streamState(t, js)

	// A client listening for its key's end hears nothing at all here.
	client := connectAs(t, b.m, "")
	heard := make(chan *nats.Msg, 1000)
	if _, err := client.ChanSubscribe("keyledger.notify.>", heard); err != nil {
		t.Fatal(err)
	}
	// Keyledger's own account must see no JetStream answer on its subjects.
	ledger, err := nats.Connect(b.m.ClientURL(), serviceOption(t, b.m.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ledger.Close)
	inLedger := make(chan *nats.Msg, 1000)
	for _, subj := range []string{"keyledger.clients.>", "keyledger.cmd.>", "keyledger.events.>", "keyledger.usage.>"} {
		if _, err := ledger.ChanSubscribe(subj, inLedger); err != nil {
			t.Fatal(err)
		}
	}
	client.Flush()
	ledger.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var watched bytes.Buffer
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		Run(ctx, []string{"watch", "--json", "--server", b.m.ClientURL(), "--token-file", writeToken(t, b.gateway)}, &watched, io.Discard)
	}()
	time.Sleep(500 * time.Millisecond) // watch subscribes

	gw := connectAs(t, b.m, b.gateway, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	// The same requests, answered to the gateway's own inbox, do work: the
	// attack below is not simply refused for its subject.
	if m, err := gw.Request("$JS.API.DIRECT.GET.KEYLEDGER", []byte(`{"seq":1}`), 5*time.Second); err != nil || m.Header.Get("Nats-Sequence") != "1" {
		t.Fatalf("a gateway's direct get: %v %v", err, m)
	}
	replies := []string{
		"keyledger.clients.notify.revoked." + b.aliceKeyID,
		"keyledger.notify.revoked." + b.aliceKeyID, // other gateways, and watch
		"keyledger.cmd.key.revoke",
		"keyledger.events.user." + b.aliceID + "._.registered",
		"keyledger.usage." + b.aliceKeyID,
	}
	for _, reply := range replies {
		for subj, body := range map[string]string{
			"$JS.API.DIRECT.GET.KEYLEDGER":     `{"seq":1}`,
			"$JS.API.STREAM.MSG.GET.KEYLEDGER": `{"seq":1}`,
			"$JS.API.STREAM.INFO.KEYLEDGER":    ``,
		} {
			if err := gw.PublishRequest(subj, reply, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		// A batch: many answers to one request.
		if err := gw.PublishRequest("$JS.API.DIRECT.GET.KEYLEDGER", reply, []byte(`{"seq":1,"batch":50}`)); err != nil {
			t.Fatal(err)
		}
	}
	// The old revocation, on its own subject, where other gateways and
	// watch listen: not news.
	if err := gw.PublishRequest("$JS.API.DIRECT.GET.KEYLEDGER", "keyledger.notify.revoked."+b.strangerKey,
		fmt.Appendf(nil, `{"seq":%d}`, revokedSeq)); err != nil {
		t.Fatal(err)
	}
	if err := gw.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	select {
	case m := <-heard:
		t.Fatalf("a client heard a gateway's read on %s: %.80s", m.Subject, m.Data)
	default:
	}
	for len(inLedger) > 0 {
		m := <-inLedger
		if m.Header.Get("Nats-Stream") != "" || m.Header.Get("Status") != "" || bytes.Contains(m.Data, []byte("io.nats.jetstream.api")) {
			t.Fatalf("a gateway's read was answered to keyledger's %s: %.80s", m.Subject, m.Data)
		}
	}
	cancel()
	<-watching
	if watched.Len() > 0 {
		t.Errorf("watch printed a gateway's read as a notification: %s", watched.String())
	}
	if after := streamState(t, js); after != before {
		t.Fatalf("streams changed: %v, was %v", after, before)
	}
}
