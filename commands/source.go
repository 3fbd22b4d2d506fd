package commands

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"unicode"

	"github.com/keyledger/keyledger"
)

// sourceKey is the context key of a request's source.
type sourceKey struct{}

// MaxSource is the longest source recorded; a longer one is cut.
const MaxSource = 200

// WithSource returns ctx carrying where a request came from ("http
// 10.0.0.7:51234", "nats 10.0.0.8:52100 billing-svc"): the transports set it,
// Call copies it into the actor, and the events the request causes record it.
// Control characters are replaced, so the text is safe to print.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, cleanSource(source))
}

// cleanSource replaces control characters and cuts at MaxSource.
func cleanSource(source string) string {
	source = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, source)
	if len(source) > MaxSource {
		source = strings.ToValidUTF8(source[:MaxSource], "")
	}
	return source
}

// SourceOf returns the source WithSource put in ctx, or "".
func SourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// addrKey is the context key of a request's client address.
type addrKey struct{}

// WithClientAddr returns ctx carrying the address a request came from (the
// HTTP peer, the NATS client's host), against which a key's allowed_cidrs
// are checked. Without it the address is unknown, and a key with
// allowed_cidrs is refused.
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, addrKey{}, addr.Unmap().WithZone(""))
}

// clientAddrOf returns the address WithClientAddr put in ctx.
func clientAddrOf(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(addrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// requester is what the Nats-Request-Info header the server adds to a
// request that crossed an account import says of the requesting connection.
// serveNATS parses it once per request.
type requester struct {
	Acc  string `json:"acc"`
	Host string `json:"host"`
	Name string `json:"name"`
	User string `json:"user"`
	ok   bool   // the header was there and parsed
}

// parseRequester reads a Nats-Request-Info value ("" when there was none).
func parseRequester(info string) requester {
	var r requester
	if info == "" || json.Unmarshal([]byte(info), &r) != nil {
		return requester{}
	}
	r.ok = true
	return r
}

// addr is the client's host (the zero Addr without the header).
func (r requester) addr() netip.Addr {
	a, _ := netip.ParseAddr(r.Host)
	return a
}

// source describes the requester: "nats HOST (NAME)", "nats" alone without
// the header.
func (r requester) source() string {
	if !r.ok {
		return "nats"
	}
	return keyledger.NATSSource(r.Host, r.Name)
}

// key is the key ID the connection authenticated with and the tag of the
// secret it presented, or "": the auth callout (natsauth) names each key's
// NATS user KEYID:TAG (keyledger.ConnectionUser), in the account CLIENTS.
func (r requester) key() (keyID, tag string) {
	if r.Acc != "CLIENTS" {
		return "", ""
	}
	keyID, tag, _ = keyledger.ParseConnectionUser(r.User)
	return keyID, tag
}
