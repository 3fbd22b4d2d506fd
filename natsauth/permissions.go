package natsauth

import (
	"regexp"
	"slices"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/jwt/v2"
)

// Inbox prefixes: every connection the callout lets in may subscribe only
// below its own prefix (and to notifications), so no connection sees
// another's replies. A key's connections made with one secret share
// _INBOX_<keyID>_<tag> (KeyInbox); a gateway's _INBOX_gw_<name>; a keyless
// connection that names itself with a random user name gets
// _INBOX_anon_<name>.
const (
	inboxPrefix        = "_INBOX_"
	gatewayInboxPrefix = "_INBOX_gw_"
	anonInboxPrefix    = "_INBOX_anon_"
	notifySubjects     = "keyledger.notify.>"
)

// anonName is what a keyless connection may call itself to get an inbox:
// random enough that nobody else can guess it (nuid is 22 characters).
var anonName = regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`)

// KeyInbox is the inbox prefix of connections made with token, an API key:
// _INBOX_<keyID>_<tag>, where the tag names the token's secret as the
// connection's user name does (keyledger.ConnectionUser). A connection
// made with a secret the key no longer has (it was regenerated) so cannot
// read the replies to connections made with the new one. "" if token is no
// API key.
func KeyInbox(token string) string {
	keyID, secret, ok := keyledger.ParseToken(strings.TrimSpace(token))
	if !ok {
		return ""
	}
	_, tag, _ := keyledger.ParseConnectionUser(keyledger.ConnectionUser(keyID, secret))
	return inboxPrefix + keyID + "_" + tag
}

// roleSubjects are what each role may publish beyond verification and the
// micro-service discovery subjects; the service still checks every request.
var roleSubjects = map[string][]string{
	keyledger.RoleAdmin:     {"keyledger.cmd.>", "keyledger.query.>"},
	keyledger.RoleDeveloper: {"keyledger.cmd.key.>", "keyledger.query.>"},
	keyledger.RoleAuditor:   {"keyledger.query.>"},
}

// keyPermissions are a key's: the subjects its owner's roles reach, verify,
// whoami (which needs no role), $SRV (nats micro ls); replies only in
// inbox, its own (KeyInbox).
func keyPermissions(inbox string, roles []string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add("keyledger.verify", "keyledger.query.whoami", "$SRV.>")
	for _, r := range roles {
		for _, s := range roleSubjects[r] {
			if !slices.Contains(p.Pub.Allow, s) {
				p.Pub.Allow.Add(s)
			}
		}
	}
	p.Sub.Allow.Add(inbox+".>", notifySubjects)
	return p
}

// anonPermissions are a keyless connection's: verify and notifications,
// with an inbox only if it named itself (anonName).
func anonPermissions(name string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add("keyledger.verify")
	p.Sub.Allow.Add(notifySubjects)
	if anonName.MatchString(name) {
		p.Sub.Allow.Add(anonInboxPrefix + name + ".>")
	}
	return p
}

// gatewayPermissions are a gateway's, in account GATEWAYS: read the
// KEYLEDGER stream (stream info and direct gets, batched to follow it) and
// the notifications, and report its verifications
// (keyledger.gateway.usage); publish nothing else, edit nothing. No consumers: the
// subject that creates one creates any kind, and a push consumer delivers
// the stream to any subject, so a gateway follows with direct gets
// (events.Store.DirectReads), which leave nothing behind. The account
// imports no more than these; the permissions keep one gateway's replies
// from another.
func gatewayPermissions(name string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(
		"$JS.API.STREAM.INFO.KEYLEDGER",
		"$JS.API.STREAM.MSG.GET.KEYLEDGER",
		"$JS.API.DIRECT.GET.KEYLEDGER",
		"$JS.API.DIRECT.GET.KEYLEDGER.>",
		events.GatewayUsageSubject,
	)
	p.Sub.Allow.Add(gatewayInboxPrefix+name+".>", notifySubjects)
	return p
}
