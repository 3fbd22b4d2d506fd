// Package client calls keyledger's NATS API: one request per endpoint of the
// catalogue, on keyledger.<endpoint>, with the caller's API key as a bearer
// token. Error replies come back as *keyledger.Error, so errors.Is against
// keyledger.ErrForbidden and the other sentinels works on the caller's side
// exactly as it does in the server.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Subject prefix of every endpoint: keyledger.cmd.key.issue is the endpoint
// "cmd.key.issue".
const subjectPrefix = "keyledger."

// ErrNoServer means no keyledger instance answers on the connection's NATS:
// nothing was applied, and the request may be sent again.
var ErrNoServer = errors.New("no keyledger server answers")

// Client sends requests over one NATS connection. Fill the fields (Dial does
// it with defaults), then Call.
type Client struct {
	Conn *nats.Conn
	// Timeout bounds one Call, retries included (default 20s).
	Timeout time.Duration
	// Attempts is how often a request that found no server or timed out is
	// sent (default 1: no retry). Every attempt carries the same
	// Idempotency-Key, so a command whose reply was lost is not applied twice.
	Attempts int
	// Backoff is the pause before the second attempt; it grows linearly.
	Backoff time.Duration
}

// New returns a client on an open connection, with the default timeout and
// no retries. Closing the connection is the caller's.
func New(nc *nats.Conn) *Client {
	return &Client{Conn: nc, Timeout: 20 * time.Second, Attempts: 1, Backoff: 200 * time.Millisecond}
}

// Dial connects to the NATS server at url (a comma-separated list for a
// cluster) and returns a client on that connection; Close closes it.
func Dial(url string, opts ...nats.Option) (*Client, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("keyledger-client")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return New(nc), nil
}

// Close closes the client's connection.
func (c *Client) Close() { c.Conn.Close() }

// Call sends req as JSON to keyledger.<endpoint> with token as the bearer
// token and idempotencyKey (if not empty) as the Idempotency-Key, and
// decodes the reply into resp (unless resp is nil; a *json.RawMessage keeps
// the reply as sent). An error reply is returned as a *keyledger.Error with
// the server's code and message. The token never appears in an error.
func (c *Client) Call(ctx context.Context, endpoint, token, idempotencyKey string, req, resp any) error {
	if !validEndpoint(endpoint) {
		return keyledger.Errorf(keyledger.EInvalid, "endpoint %q is not a keyledger endpoint name", endpoint)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", endpoint, err)
	}
	msg := nats.NewMsg(subjectPrefix + endpoint)
	msg.Data = data
	if token != "" {
		msg.Header.Set(commands.HeaderAuthorization, "Bearer "+token)
	}
	if idempotencyKey != "" {
		msg.Header.Set(commands.HeaderIdempotencyKey, idempotencyKey)
	}
	reply, err := c.request(ctx, msg)
	if err != nil {
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		return replyError(endpoint, code, reply)
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(reply.Data, resp); err != nil {
		return fmt.Errorf("%s: decode reply: %w", endpoint, err)
	}
	return nil
}

// request sends msg and waits for its reply, resending it after a timeout
// or while no server answers, up to Attempts times within Timeout.
func (c *Client) request(ctx context.Context, msg *nats.Msg) (*nats.Msg, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		reply, err := c.Conn.RequestMsgWithContext(ctx, msg)
		retry := errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)
		if err == nil || !retry || attempt >= c.Attempts {
			if errors.Is(err, nats.ErrNoResponders) {
				err = ErrNoServer
			}
			return reply, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * c.Backoff):
		}
	}
}

// replyError reads an error reply: {"error":{"code","message"}} in the
// body, the micro service's error code in its header. A body that does not
// hold a known code is reported with the header's text.
func replyError(endpoint, status string, reply *nats.Msg) error {
	var body struct {
		Error *keyledger.Error `json:"error"`
	}
	if json.Unmarshal(reply.Data, &body) == nil && body.Error != nil && knownCode(body.Error.Code) {
		return body.Error
	}
	return fmt.Errorf("%s: error %s: %q", endpoint, status, reply.Header.Get(micro.ErrorHeader))
}

// knownCode reports whether code is in keyledger's error vocabulary.
func knownCode(code string) bool {
	switch code {
	case keyledger.EInvalid, keyledger.ENotFound, keyledger.EForbidden, keyledger.EUnauthenticated,
		keyledger.EConflict, keyledger.ELimitReached, keyledger.EDisabled, keyledger.EUnavailable, keyledger.EInternal:
		return true
	}
	return false
}

// validEndpoint reports whether name can follow "keyledger." as a subject
// to publish on: dot-separated tokens of letters, digits, '_' and '-', so no
// wildcard, space or empty token reaches NATS.
func validEndpoint(name string) bool {
	if name == "" {
		return false
	}
	for _, tok := range strings.Split(name, ".") {
		if tok == "" {
			return false
		}
		for _, r := range tok {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return true
}
