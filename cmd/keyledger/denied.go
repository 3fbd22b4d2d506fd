package main

import (
	"context"
	"errors"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
)

// NATS tells a client that its permissions forbid a publish only in an
// asynchronous error, and a request would otherwise wait out its timeout.
// The CLI watches for those errors and fails the request at once.

// errDenied is the cause of a request canceled by a permission violation.
var errDenied = errors.New("denied by NATS permissions")

// watchDenied records the subjects the server refuses this connection.
func (c *client) watchDenied() {
	c.denied = make(chan string, 16)
	c.nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		const mark = "Permissions Violation for Publish to \""
		msg := err.Error()
		i := strings.Index(msg, mark)
		if !errors.Is(err, nats.ErrPermissionViolation) || i < 0 {
			return
		}
		subject, _, _ := strings.Cut(msg[i+len(mark):], "\"")
		select {
		case c.denied <- subject:
		default:
		}
	})
}

// deniedContext is ctx canceled with errDenied when the server refuses a
// publish to subject.
func (c *client) deniedContext(ctx context.Context, subject string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-c.denied:
				if s == subject {
					cancel(errDenied)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// deniedError is the error a request refused by NATS permissions reports;
// token is the one the client connected with.
func deniedError(ctx context.Context, name, token string) error {
	switch {
	case !errors.Is(context.Cause(ctx), errDenied):
		return nil
	case natsauth.IsGatewayCredential(strings.TrimSpace(token)):
		return keyledger.Errorf(keyledger.EForbidden, "that is a gateway credential, which reads the event stream and notifications only "+
			"(audit verify, watch --since); keyledger.%s needs an API key", name)
	}
	return keyledger.Errorf(keyledger.EForbidden, "your key's roles do not allow keyledger.%s", name)
}
