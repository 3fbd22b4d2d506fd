package main

import (
	"flag"
	"strings"
)

// subcommand is one client subcommand: the words that name it, how it is
// used, and the flags it declares. The table below is the one place a client
// subcommand is listed: dispatch, `keyledger --help`, group help and each
// subcommand's own --help all come from it.
type subcommand struct {
	name     string        // the words after "keyledger": "key issue", "watch"
	args     string        // the synopsis after the name: "KEY_ID [--reason TEXT]"
	summary  string        // one sentence: what it does
	examples []string      // whole command lines, without the leading "keyledger "
	flags    clientCommand // declares its flags and returns what runs
}

// group is the first word shared by several subcommands ("key", "user").
type group struct {
	name, summary string
}

// groups lists the subcommand groups in the order help shows them. A group
// without subcommands in this build is left out of `keyledger --help`.
var groups = []group{
	{"key", "issue, list, change and end API keys"},
	{"user", "register people and services, and change their roles"},
	{"settings", "show and change the key policy"},
	{"admin", "operate the ledger itself"},
	{"audit", "query the audit trail"},
}

// subcommands is the table of client subcommands, in the order help lists
// them.
var subcommands = []subcommand{
	{
		name: "key issue", flags: keyIssue,
		args:    "--name NAME [--owner USER] [--description TEXT] [--expires-in P30D|never | --expires-at TIME] [--scope S]... [--cidr CIDR]... [--rate-limit 100/PT1M]",
		summary: "Issue an API key. Its token is printed once and never again.",
		examples: []string{
			"key issue --name ci-deploy --scope deploy --expires-in P30D",
			"key issue --name billing --owner 01J9Z3Q5W8X2M4N6P7R8S9T0VA --cidr 10.0.0.0/8 --rate-limit 100/PT1M",
		},
	},
	{
		name: "key list", flags: keyList,
		args:    "[--owner USER] [--status active|expired|revoked|deleted] [--q TEXT] [--created-by USER] [--expires-before TIME] [--never-expires] [--limit N] [--cursor C] [--as-of TIME|seq:N]",
		summary: "List keys, newest first. --q matches part of a name, or a whole key ID, owner ID or owner name.",
		examples: []string{
			"key list --status active --q deploy",
			"key list --expires-before 2027-01-01T00:00:00Z --json",
		},
	},
	{
		name: "key show", flags: keyShow, args: "KEY_ID [--as-of TIME|seq:N]",
		summary:  "Show one key: its policy, use, and how it ended (revoked or deleted, when, by whom, why).",
		examples: []string{"key show 01J9Z3Q5W8X2M4N6P7R8S9T0VA", "key show 01J9Z3Q5W8X2M4N6P7R8S9T0VA --as-of 2026-11-01T00:00:00Z"},
	},
	{
		name: "key update", flags: keyUpdate, args: "KEY_ID [--name NAME] [--description TEXT]",
		summary:  "Rename a key or change its description; nothing else about a key changes.",
		examples: []string{"key update 01J9Z3Q5W8X2M4N6P7R8S9T0VA --name ci-deploy-old"},
	},
	{
		name: "key revoke", flags: keyRevoke, args: "KEY_ID... | [--owner USER] [--created-by USER] [--created-after TIME] [--created-before TIME] [--used-from CIDR] [--dry-run]  [--reason TEXT]",
		summary: "Stop active keys from working at once: the listed ones, or (admins) every active key a filter matches, in atomic batches. A revoked key an admin may regenerate; its owner only if the owner revoked it.",
		examples: []string{
			"key revoke 01J9Z3Q5W8X2M4N6P7R8S9T0VA --reason \"leaked in a CI log\"",
			"key revoke --created-by mallory --created-after 2026-11-22T00:00:00Z --dry-run",
			"key revoke --used-from 203.0.113.0/24 --reason \"credential stuffing from this network\"",
			"key revoke --created-by mallory --created-after 2026-11-22T00:00:00Z --reason \"mallory's admin key leaked\"",
		},
	},
	{
		name: "key regenerate", flags: keyRegenerate, args: "KEY_ID",
		summary:  "Give a revoked key a new token under the same ID and expiry. A key an admin revoked only an admin may regenerate.",
		examples: []string{"key regenerate 01J9Z3Q5W8X2M4N6P7R8S9T0VA"},
	},
	{
		name: "key inbox", flags: keyInbox,
		summary:  "Print the NATS inbox prefix of your key's token (_INBOX_<keyID>_<tag>, the tag naming its secret), for nats --inbox-prefix. It changes when the key is regenerated.",
		examples: []string{"key inbox", "--inbox-prefix $(keyledger key inbox --token-file ci.token)"},
	},
	{
		name: "key delete", flags: keyDelete, args: "KEY_ID... | --owner USER --all [--reason TEXT]",
		summary: "End keys for good.",
		examples: []string{
			"key delete 01J9Z3Q5W8X2M4N6P7R8S9T0VA",
			"key delete --owner 01J9Z3Q5W8X2M4N6P7R8S9T0VB --all --reason \"left the company\"",
		},
	},
	{
		name: "user add", flags: userAdd, args: "NAME [--kind person|service] [--role admin|developer|auditor]...",
		summary:  "Register a person or service account; print its user ID.",
		examples: []string{"user add alice --role developer", "user add billing-service --kind service"},
	},
	{
		name: "user list", flags: userList, args: "[--q TEXT]",
		summary:  "List users, oldest first. --q matches part of a name, or a whole user ID.",
		examples: []string{"user list --q ali"},
	},
	{
		name: "user roles", flags: userRoles, args: "USER [--role admin|developer|auditor]...",
		summary:  "Replace a user's roles; no --role removes them all.",
		examples: []string{"user roles 01J9Z3Q5W8X2M4N6P7R8S9T0VB --role developer --role auditor"},
	},
	{
		name: "user deactivate", flags: userDeactivate, args: "USER",
		summary:  "Deactivate a user and delete every key of theirs.",
		examples: []string{"user deactivate 01J9Z3Q5W8X2M4N6P7R8S9T0VB"},
	},
	{
		name: "audit suspicious", flags: auditSuspicious, args: "[--window 1h] [--limit N]",
		summary:  "Rank keys by how unusual their recent use is: far above their own baseline, bursts of failed attempts, use of a deactivated owner's key. Each line has the evidence and the revoke command.",
		examples: []string{"audit suspicious", "audit suspicious --window 30m --json"},
	},
	{
		name: "settings show", flags: settingsShow, args: "",
		summary:  "Show the key policy.",
		examples: []string{"settings show"},
	},
	{
		name: "settings set", flags: settingsSet,
		args:    "[--enabled=true|false] [--max-expiry P1D..P365D|never] [--default-expiry P1D..P365D|never] [--inactivity-expiry P1D..P3650D|none] [--max-active-keys 1..1000]",
		summary: "Change any part of the key policy. Keys already issued keep their expiry; --inactivity-expiry applies to every key at once, admin keys too.",
		examples: []string{
			"settings set --enabled --max-expiry P180D --default-expiry P90D",
			"settings set --inactivity-expiry P30D --max-active-keys 20",
		},
	},
	{
		name: "audit list", flags: auditList,
		args:    "[--key KEY_ID] [--owner USER] [--actor USER] [--action ACTION] [--since TIME] [--until TIME] [--limit N] [--cursor C]",
		summary: "List the audit trail, newest first: who did what to which key, from where (auditors and admins).",
		examples: []string{
			"audit list --key 01J9Z3Q5W8X2M4N6P7R8S9T0VA",
			"audit list --action key.revoked --since 2026-11-01T00:00:00Z --json",
		},
	},
	{
		name: "audit trace", flags: auditTrace, args: "KEY_ID [--hours N]",
		summary: "A key's whole story, oldest first: who issued it, for whom, its policy, renames, refused attempts, " +
			"its end; then its verifications per hour, with where they came from.",
		examples: []string{"audit trace 01J9Z3Q5W8X2M4N6P7R8S9T0VA", "audit trace 01J9Z3Q5W8X2M4N6P7R8S9T0VA --hours 720 --json"},
	},
	{
		name: "audit prove", flags: auditProve, args: "SEQ [--min-witnesses N [--wait 30s]]",
		summary:  "Print a receipt for the event at SEQ: its bytes, its inclusion proof and the latest signed checkpoint.",
		examples: []string{"audit prove 42 > receipt.json"},
	},
	{
		name: "audit receipt", flags: auditReceipt, args: "KEY_ID [--min-witnesses N [--wait 30s]]",
		summary: "Print a receipt for a key's revocation, to check later with check-receipt; with --min-witnesses, " +
			"once its checkpoint carries that many co-signatures.",
		examples: []string{"audit receipt 01J9Z3Q5W8X2M4N6P7R8S9T0VA > revoked.json", "audit receipt 01J9Z3Q5W8X2M4N6P7R8S9T0VA --min-witnesses 2 > revoked.json"},
	},
	{
		name: "audit check-receipt", flags: auditCheckReceipt, args: "FILE --public-key FILE [--witness-key FILE]... [--min-witnesses N]",
		summary: "Check a receipt offline (no server, no data directory); exit 0 only if it holds " +
			"and, with --witness-key, enough of those witnesses co-signed its checkpoint (all given, unless --min-witnesses).",
		examples: []string{"audit check-receipt revoked.json --public-key keyledger.pub",
			"audit check-receipt revoked.json --public-key keyledger.pub --witness-key a.witness --witness-key b.witness --min-witnesses 1"},
	},
	{
		name: "audit pubkey", flags: auditPubkey, args: "[--data DIR] [--witness]",
		summary: "Print the log's verifier key, from DIR/audit.key; keep a copy where checkers find it. " +
			"With --witness, this instance's own co-signing key, from DIR/witness.key.",
		examples: []string{"audit pubkey --data /var/lib/keyledger > keyledger.pub",
			"audit pubkey --witness --data /var/lib/keyledger > instance-a.witness"},
	},
	{
		name: "audit verify", flags: auditVerify, args: "[--data DIR] [--public-key FILE] [--witness-key FILE]... [--min-witnesses N]",
		summary: "Recompute the log from the stream; check every checkpoint, the stored hashes and every audit row. Names the first divergent seq; exit 0 only if all holds " +
			"and, with --witness-key, a checkpoint is co-signed by those witnesses (all given, unless --min-witnesses).",
		examples: []string{"audit verify --data /var/lib/keyledger", "audit verify --data /var/lib/keyledger --witness-key a.witness --witness-key b.witness"},
	},
	{
		name: "admin skip-event", flags: adminSkipEvent, args: "SEQ --reason TEXT",
		summary: "Let the projections pass over the event they halted on (/readyz names it). " +
			"The skip is itself stored as an event; the skipped event stays in the stream.",
		examples: []string{"admin skip-event 4711 --reason \"junk published by a misconfigured tool\""},
	},
	{
		name: "whoami", flags: whoami, args: "",
		summary:  "Show who your token acts as: the user, their roles, and the key.",
		examples: []string{"whoami", "whoami --json"},
	},
	{
		name: "watch", flags: watch, args: "[--events revoked,deleted,expired] [--since SEQ]",
		summary:  "Print revocations, deletions and expiries as they happen; --since replays the stream from a sequence first.",
		examples: []string{"watch", "watch --events revoked --since 1 --json"},
	},
}

// findSubcommand returns the subcommand with this name.
func findSubcommand(name string) (subcommand, bool) {
	for _, sc := range subcommands {
		if sc.name == name {
			return sc, true
		}
	}
	return subcommand{}, false
}

// findGroup returns the group with this name.
func findGroup(name string) (group, bool) {
	for _, g := range groups {
		if g.name == name {
			return g, true
		}
	}
	return group{}, false
}

// inGroup returns the subcommands of group g, in table order.
func inGroup(g string) []subcommand {
	var out []subcommand
	for _, sc := range subcommands {
		if first, _, ok := strings.Cut(sc.name, " "); ok && first == g {
			out = append(out, sc)
		}
	}
	return out
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// declaredFlags returns the flags a subcommand declares itself, without the
// connection flags every client subcommand shares.
func declaredFlags(sc subcommand) *flag.FlagSet {
	fs := flag.NewFlagSet(sc.name, flag.ContinueOnError)
	sc.flags(fs)
	return fs
}
