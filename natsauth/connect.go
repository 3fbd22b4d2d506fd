package natsauth

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// ConnectOptions are the options a client connects with: its API key
// (kl_...) or gateway credential (klgw_...) as the NATS token and the
// private inbox prefix the server lets it subscribe to. With no token, the
// connection names itself with a random user name, which gets it a private
// inbox for verification replies.
func ConnectOptions(token string) []nats.Option {
	token = strings.TrimSpace(token)
	if inbox := KeyInbox(token); inbox != "" {
		return []nats.Option{nats.Token(token), nats.CustomInboxPrefix(inbox)}
	}
	if name, _, ok := parseGateway(token); ok {
		return []nats.Option{nats.Token(token), nats.CustomInboxPrefix(gatewayInboxPrefix + name)}
	}
	if token != "" {
		// Not ours: the server will refuse it, and say so.
		return []nats.Option{nats.Token(token)}
	}
	name := nuid.Next()
	return []nats.Option{nats.UserInfo(name, ""), nats.CustomInboxPrefix(anonInboxPrefix + name)}
}
