// Package natsauth is keyledger's NATS trust boundary: the accounts every
// keyledger NATS server runs with, the service's own credentials, the auth
// callout that turns an API key into a NATS user with a private inbox, and
// the connection options a client needs to be let in.
//
// Only keyledger's own connections (account LEDGER) can publish events,
// usage and notifications, answer commands, queries and verification, or use
// the JetStream API. Clients (account CLIENTS) see the service subjects and
// the notifications, nothing else. Gateways (account GATEWAYS) read the
// KEYLEDGER stream and the full notifications through imports, and reach
// nothing else.
package natsauth

import (
	_ "embed"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
)

// Account names of the trust boundary.
const (
	LedgerAccount   = "LEDGER"
	ClientsAccount  = "CLIENTS"
	GatewaysAccount = "GATEWAYS"
)

// AccountsConf is the accounts configuration (deploy/nats/accounts.conf is
// a copy, held to it by a test). It reads the variables
// KEYLEDGER_SERVICE_NKEY and KEYLEDGER_CALLOUT_ISSUER.
//
//go:embed accounts.conf
var AccountsConf string

// ServerOptions returns nats-server options holding the accounts and the
// auth callout for the service user and callout issuer of keys. The caller
// adds listen address, JetStream storage and the like.
func ServerOptions(keys *Keys) (*server.Options, error) {
	svc, err := keys.Service.PublicKey()
	if err != nil {
		return nil, err
	}
	issuer, err := keys.Issuer.PublicKey()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("KEYLEDGER_SERVICE_NKEY: %q\nKEYLEDGER_CALLOUT_ISSUER: %q\n", svc, issuer) + AccountsConf
	opts := &server.Options{}
	if err := opts.ProcessConfigString(conf); err != nil {
		return nil, fmt.Errorf("accounts config: %w", err)
	}
	return opts, nil
}

// MaxSubscriptions is how many subscriptions one connection may hold on a
// server running AccountsConf (its max_subscriptions).
const MaxSubscriptions = 10000
