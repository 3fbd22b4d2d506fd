package natsauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Identity is what the callout needs to know about a valid API key.
type Identity struct {
	KeyID     string
	Owner     string
	Roles     []string
	ExpiresAt *time.Time
}

// Callout is the NATS auth callout with keyledger as the authorizer. A
// connection whose token is a valid API key becomes a user in the clients'
// account with its owner's roles and a private inbox; a gateway credential
// becomes a read-only user in the gateways' account; no token at all becomes
// a user who may verify and receive notifications. When a key ends, the
// connections that used it are closed, on whichever server they are.
// Fill the fields, then Open on a connection of the ledger account.
type Callout struct {
	// Keys.Issuer signs the answers; the servers trust its public key.
	Keys Keys
	// CheckKey authenticates an API key token as the service would
	// (secret, status, expiry, owner active, allowed_cidrs) for a client
	// connecting from, which the audit trail of a refusal names.
	CheckKey func(ctx context.Context, token string, from Client) (*Identity, error)
	// DataDir holds the gateway credentials (gateways/<name>).
	DataDir string
	// Holds reports whether a connection made with key keyID and the
	// secret tag names (keyledger.ConnectionUser) may stay open: the key
	// is active and tag names its current secret. The sweep asks it of
	// every open connection, without counting a use of the key.
	Holds func(keyID, tag string) bool
	// CatchUp, if set, returns once this instance has read the event
	// stream as far as it went when CatchUp was called. The sweep calls it
	// before closing any connection that Holds refused, and asks Holds
	// again: a key issued a moment ago on another instance is not yet
	// known here, and its connections must not be closed for that.
	CatchUp func(ctx context.Context) error
	// SweepEvery is how often every open connection is checked with
	// Holds (0: never): the net under the closing of a key's connections
	// when it ends, for one a server's kick missed, or that was made
	// before this instance started.
	SweepEvery time.Duration
	// WatchGatewaysEvery is how often DataDir's gateway credentials are
	// looked at (0: never); when one was withdrawn or replaced, the open
	// connections made with it are closed (SweepGateways).
	WatchGatewaysEvery time.Duration
	// Timeout bounds one authorization.
	Timeout time.Duration
	Logger  *slog.Logger

	nc     *nats.Conn
	subs   []*nats.Subscription
	stop   chan struct{} // closed by Close: ends the sweeps
	slots  chan struct{} // bounds the authorizations in flight
	mu     sync.Mutex
	conns  map[string]*keyConns // by key ID
	keyOf  map[conn]string      // key ID by connection
	hosts  map[string]int       // open connections by client address
	hostOf map[conn]hostConn    // every open CLIENTS connection let in
	gwSeen map[string]bool      // gateways whose credential this instance has known
}

// maxInFlight is how many connections are authorized at once; one slow
// key lookup does not hold up the others.
const maxInFlight = 32

// MaxConnsPerKey is how many NATS connections one key may hold open
// through one keyledger instance; past it the key's next connection is
// refused until one closes.
const MaxConnsPerKey = 1024

// MaxConnsPerAddress is how many CLIENTS connections (with a key or
// without) one client address (an IPv6 /64) may hold open through one keyledger
// instance, loopback addresses aside: without a bound, one host's keyless
// connections used up the server's file descriptors, and HTTP with them.
const MaxConnsPerAddress = 1024

// NewCallout returns a callout signing with keys.Issuer.
func NewCallout(keys Keys) *Callout {
	return &Callout{Keys: keys, Timeout: time.Second, Logger: slog.Default(), SweepEvery: 30 * time.Second,
		conns: map[string]*keyConns{}, keyOf: map[conn]string{}, hosts: map[string]int{}, hostOf: map[conn]hostConn{},
		gwSeen: map[string]bool{}, WatchGatewaysEvery: time.Second, slots: make(chan struct{}, maxInFlight)}
}

// Open answers the server's authorization requests on nc, which must be a
// connection of the ledger account, and starts sweeping (see SweepEvery),
// at once: connections made before this instance started are checked too.
// Several instances share the requests. When Open returns, the server nc
// is connected to sends its requests here: a client connecting then is
// answered.
func (c *Callout) Open(nc *nats.Conn) error {
	c.nc = nc
	// The disconnect events come first, so that no connection this
	// instance authorizes closes unnoticed.
	closed, err := nc.Subscribe(disconnectSubject, c.closed)
	if err != nil {
		return fmt.Errorf("subscribing to disconnect events: %w", err)
	}
	c.subs = append(c.subs, closed)
	if err := nc.Flush(); err != nil {
		c.Close()
		return fmt.Errorf("subscribing to disconnect events: %w", err)
	}
	sub, err := nc.QueueSubscribe(server.AuthCalloutSubject, "keyledger", c.handle)
	if err != nil {
		c.Close()
		return fmt.Errorf("subscribing to authorization requests: %w", err)
	}
	c.subs = append(c.subs, sub)
	// Until the server has the subscription, it sends a connection's
	// authorization request to no one and, after its auth timeout,
	// refuses the connection (Authorization Violation): a client that
	// connected just after Open was refused with a valid key.
	if err := nc.Flush(); err != nil {
		c.Close()
		return fmt.Errorf("subscribing to authorization requests: %w", err)
	}
	c.stop = make(chan struct{})
	if c.SweepEvery > 0 && c.Holds != nil {
		go c.sweepEvery(c.stop)
	}
	if c.WatchGatewaysEvery > 0 && c.DataDir != "" {
		go c.watchGateways(c.stop)
	}
	return nil
}

// Close stops answering and sweeping.
func (c *Callout) Close() {
	for _, sub := range c.subs {
		sub.Unsubscribe()
	}
	c.subs = nil
	if c.stop != nil {
		close(c.stop)
		c.stop = nil
	}
}

func (c *Callout) handle(m *nats.Msg) {
	c.slots <- struct{}{}
	go func() {
		defer func() { <-c.slots }()
		c.answer(m)
	}()
}

// answer authorizes one connection and answers the server.
func (c *Callout) answer(m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		c.Logger.Warn("auth callout: undecodable request", "err", err)
		return
	}
	userJWT, reason := c.authorize(req)
	if reason != "" {
		c.Logger.Info("refused a NATS connection", "host", req.ClientInformation.Host, "reason", reason)
	}
	res := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	res.Audience = req.Server.ID
	res.Jwt, res.Error = userJWT, reason
	body, err := res.Encode(c.Keys.Issuer)
	if err != nil {
		c.Logger.Error("auth callout: signing the answer failed", "err", err)
		return
	}
	_ = m.Respond([]byte(body))
}

// authorize returns the signed user for the request, or why not. The
// reason never repeats the token.
func (c *Callout) authorize(req *jwt.AuthorizationRequestClaims) (userJWT, reason string) {
	opts := req.ConnectOptions
	token := strings.TrimSpace(opts.Token)
	cn := conn{req.Server.ID, req.ClientInformation.ID}
	if !strings.HasPrefix(token, gatewayPrefix) { // bound to CLIENTS, or refused
		if !c.admit(cn, req.ClientInformation.Host, time.Now()) {
			return "", fmt.Sprintf("%d NATS connections from this address are open; close one first", MaxConnsPerAddress)
		}
		defer func() {
			if reason != "" {
				c.forget(cn)
			}
		}()
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	anonymous := opts.Password == "" && opts.JWT == "" && opts.Nkey == ""
	switch {
	case anonymous && token == "":
		uc.Audience, uc.Name = ClientsAccount, "anonymous"
		uc.Permissions = anonPermissions(opts.Username)
	case anonymous && opts.Username == "" && anonName.MatchString(token):
		// The nats tool sends --user without a password as a token.
		uc.Audience, uc.Name = ClientsAccount, "anonymous"
		uc.Permissions = anonPermissions(token)
	case strings.HasPrefix(token, gatewayPrefix):
		name, ok := checkGateway(c.DataDir, token)
		if !ok {
			return "", "not a valid gateway credential"
		}
		_, secret, _ := parseGateway(token)
		c.sawGateway(name)
		uc.Audience, uc.Name = GatewaysAccount, gatewayUser(name, secret)
		uc.Permissions = gatewayPermissions(name)
	case token != "":
		if c.CheckKey == nil {
			return "", "API keys are not accepted here"
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
		defer cancel()
		id, err := c.CheckKey(ctx, token, clientOf(req.ClientInformation))
		if keyledger.ErrorCode(err) == keyledger.EForbidden {
			return "", "the key may not be used from this address (its allowed_cidrs)"
		} else if err != nil {
			return "", "not a valid API key"
		}
		_, secret, _ := keyledger.ParseToken(token)
		user := keyledger.ConnectionUser(id.KeyID, secret)
		_, tag, _ := keyledger.ParseConnectionUser(user)
		if !c.track(cn, id.KeyID, tag, id.Owner) {
			return "", fmt.Sprintf("the key already has %d open NATS connections; close one first", MaxConnsPerKey)
		}
		// The name is the key ID and the tag of the secret presented:
		// the server hands it to keyledger with every request, which then
		// acts as the key only while that is still the key's secret.
		uc.Audience, uc.Name = ClientsAccount, user
		uc.Permissions = keyPermissions(KeyInbox(token), id.Roles)
		if id.ExpiresAt != nil {
			uc.Expires = id.ExpiresAt.Unix()
		}
	default:
		return "", "connect with an API key as the token, or with no credentials"
	}
	userJWT, err := uc.Encode(c.Keys.Issuer)
	if err != nil {
		return "", "internal error"
	}
	return userJWT, ""
}

// Client is a connecting client as the server describes it.
type Client struct {
	// Addr is the client's address (the zero Addr if the server gave none).
	Addr netip.Addr
	// Host is the address as the server wrote it; Name is the client's
	// own name for its connection, if any.
	Host, Name string
}

// clientOf reads the server's description of a connecting client.
func clientOf(ci jwt.ClientInformation) Client {
	addr, _ := netip.ParseAddr(ci.Host)
	return Client{Addr: addr, Host: ci.Host, Name: ci.Name}
}

// Source describes the client as the service's NATS requests are
// described: "nats HOST (NAME)".
func (c Client) Source() string { return keyledger.NATSSource(c.Host, c.Name) }
