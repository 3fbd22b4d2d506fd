package commands

// Summaries says in one line what each catalogue entry does, for the OpenAPI
// document and CLI help. An entry without one is documented by its name.
var Summaries = map[string]string{
	"cmd.settings.set":        "Change any subset of the key policy (admin).",
	"query.settings":          "Read the key policy.",
	"cmd.user.register":       "Register a person or service account (admin).",
	"cmd.user.roles":          "Replace a user's roles (admin).",
	"cmd.user.deactivate":     "Deactivate a user and delete every key of theirs (admin).",
	"query.users":             "List users, or find them by name or ID; developers see themselves.",
	"cmd.key.issue":           "Issue a key. The reply holds the token: the only time it is ever shown.",
	"cmd.key.update":          "Rename a key or change its description.",
	"cmd.key.revoke":          "Revoke active keys; each is reported revoked or failed with a code.",
	"cmd.key.revoke_matching": "Revoke every active key that matches a filter (owner, issuer, issue time), in atomic batches; dry_run lists them.",
	"cmd.key.regenerate":      "Give a revoked key a new secret under the same ID; the reply holds the new token.",
	"cmd.key.delete":          "Delete keys for good: the listed ones, or every key of an owner.",
	"query.keys":              "List keys with filters and cursor paging; developers see their own.",
	"query.audit.suspicious":  "Rank keys by how unusual their recent use is: volume far above their own baseline, failed-attempt bursts, use of a deactivated owner's key; each with evidence and the revoke command (admin, auditor).",
	"query.key":               "Read one key.",
	"query.whoami":            "Who the caller's key acts as: the user, their roles, and the key's ID.",
}
