package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/client"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// serveEcho answers keyledger.cmd.echo with the headers it saw, and
// keyledger.cmd.fail with the error reply of the code in its body: the
// shapes a keyledger server sends, from a real NATS server.
func serveEcho(t *testing.T, nc *nats.Conn) {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: "keyledger", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	add := func(name string, h micro.HandlerFunc) {
		if err := svc.AddEndpoint(name, h, micro.WithEndpointSubject("keyledger.cmd."+name)); err != nil {
			t.Fatal(err)
		}
	}
	add("echo", func(r micro.Request) {
		r.RespondJSON(map[string]string{"authorization": r.Headers().Get("Authorization"),
			"idempotency_key": r.Headers().Get("Idempotency-Key"), "body": string(r.Data())})
	})
	add("fail", func(r micro.Request) {
		var in struct{ Code, Body string }
		json.Unmarshal(r.Data(), &in)
		body := []byte(in.Body)
		if in.Body == "" {
			body = keyledger.ErrorJSON(keyledger.Errorf(in.Code, "owner %s is over the limit", "01KA"))
		}
		r.Error("422", "limit reached", body)
	})
	// The endpoints' subscriptions reach the server before anyone asks:
	// a request from another connection could otherwise find no responder.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestCallSendsTokenAndIdempotencyKey(t *testing.T) {
	ns := natstest.RunServer(t)
	nc, _ := natstest.Connect(t, ns)
	serveEcho(t, nc)
	c, err := client.Dial(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got map[string]string
	if err := c.Call(context.Background(), "cmd.echo", "kl_tok", "idem-1", map[string]string{"name": "ünï code"}, &got); err != nil {
		t.Fatal(err)
	}
	if got["authorization"] != "Bearer kl_tok" || got["idempotency_key"] != "idem-1" || got["body"] != `{"name":"ünï code"}` {
		t.Fatalf("server saw %v", got)
	}
	if err := c.Call(context.Background(), "cmd.echo", "", "", struct{}{}, &got); err != nil {
		t.Fatal(err)
	}
	if got["authorization"] != "" || got["idempotency_key"] != "" {
		t.Fatalf("empty token and key were sent anyway: %v", got)
	}
}

func TestCallReturnsTheServersError(t *testing.T) {
	ns := natstest.RunServer(t)
	nc, _ := natstest.Connect(t, ns)
	serveEcho(t, nc)
	c := client.New(nc)
	for _, code := range []string{keyledger.ELimitReached, keyledger.EForbidden, keyledger.ENotFound, keyledger.EUnauthenticated} {
		err := c.Call(context.Background(), "cmd.fail", "kl_secret_token", "", map[string]string{"code": code}, nil)
		var e *keyledger.Error
		if !errors.As(err, &e) || e.Code != code || e.Message != "owner 01KA is over the limit" {
			t.Fatalf("%s: got %v", code, err)
		}
		if !errors.Is(err, &keyledger.Error{Code: code}) || errors.Is(err, keyledger.ErrConflict) {
			t.Fatalf("%s: errors.Is does not follow the code: %v", code, err)
		}
		if strings.Contains(err.Error(), "kl_secret_token") {
			t.Fatalf("the token leaked into the error: %v", err)
		}
	}
	// A body that is not keyledger's error shape is still an error, never a
	// success and never a made-up code.
	for _, junk := range []string{"not json", `{"error":{"code":"teapot"}}`, `{"error":null}`, `[]`} {
		err := c.Call(context.Background(), "cmd.fail", "kl_secret_token", "", map[string]string{"body": junk}, nil)
		var e *keyledger.Error
		if err == nil || errors.As(err, &e) {
			t.Fatalf("junk body %q: got %#v", junk, err)
		}
		if !strings.Contains(err.Error(), "limit reached") || strings.Contains(err.Error(), "kl_secret_token") {
			t.Fatalf("junk body %q: error %q", junk, err)
		}
	}
}

func TestCallRefusesSubjectsThatAreNotEndpoints(t *testing.T) {
	ns := natstest.RunServer(t)
	nc, _ := natstest.Connect(t, ns)
	var seen atomic.Int32
	sub, err := nc.Subscribe("keyledger.>", func(*nats.Msg) { seen.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := client.New(nc)
	for _, ep := range []string{"", "cmd.*", ">", "cmd.>", "cmd..issue", ".cmd", "cmd.key issue", "cmd.ключ", "cmd.key.issue\n", "cmd\tkey"} {
		err := c.Call(context.Background(), ep, "tok", "", struct{}{}, nil)
		if !errors.Is(err, keyledger.ErrInvalid) {
			t.Errorf("endpoint %q: got %v, want invalid", ep, err)
		}
	}
	nc.Flush()
	if n := seen.Load(); n != 0 {
		t.Fatalf("%d requests reached NATS", n)
	}
}

func TestCallWithoutServer(t *testing.T) {
	ns := natstest.RunServer(t)
	nc, _ := natstest.Connect(t, ns)
	c := client.New(nc)
	c.Attempts, c.Backoff = 3, 10*time.Millisecond
	start := time.Now()
	err := c.Call(context.Background(), "cmd.key.issue", "tok", "k", struct{}{}, nil)
	if !errors.Is(err, client.ErrNoServer) {
		t.Fatalf("got %v, want ErrNoServer", err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("3 attempts with backoff took only %s", time.Since(start))
	}
	// A timeout bounds the whole call, retries included.
	sub, _ := nc.Subscribe("keyledger.cmd.slow", func(*nats.Msg) {}) // never answers
	defer sub.Unsubscribe()
	c.Timeout, c.Attempts = 300*time.Millisecond, 10
	start = time.Now()
	if err := c.Call(context.Background(), "cmd.slow", "tok", "k", struct{}{}, nil); err == nil {
		t.Fatal("a request nobody answers succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout of 300ms took %s", d)
	}
}
