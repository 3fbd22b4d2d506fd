package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/natsauth"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func keyIssue(fs *flag.FlagSet) runFunc {
	var c commands.IssueKey
	var scopes, cidrs stringList
	var expiresAt, rateLimit string
	fs.StringVar(&c.Name, "name", "", "key `NAME`, unique among the owner's active keys (required)")
	fs.StringVar(&c.Owner, "owner", "", "owner's `USER_ID` (admins; default: you)")
	fs.StringVar(&c.Description, "description", "", "what the key is for (`TEXT`)")
	fs.StringVar(&c.ExpiresIn, "expires-in", "", "expiry as an ISO 8601 `PERIOD` (P30D), or never where policy allows (default: the policy's default_expiry)")
	fs.StringVar(&expiresAt, "expires-at", "", "expiry as an RFC 3339 `TIME` (2027-01-31T00:00:00Z)")
	fs.Var(&scopes, "scope", "a `SCOPE` the key grants (repeatable)")
	fs.Var(&cidrs, "cidr", "a network (`CIDR`) the key may be used from (repeatable; default: any)")
	fs.StringVar(&rateLimit, "rate-limit", "", "verifications allowed per period, `LIMIT/PERIOD` such as 100/PT1M")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments; give the name with --name")
		}
		if c.Name == "" {
			return usageError("--name is required")
		}
		if expiresAt != "" {
			t, err := time.Parse(time.RFC3339, expiresAt)
			if err != nil {
				return invalidValue("--expires-at: %s is not an RFC 3339 time such as 2027-01-31T00:00:00Z", keyledger.Quote(expiresAt))
			}
			c.ExpiresAt = &t
		}
		if rateLimit != "" {
			n, per, ok := strings.Cut(rateLimit, "/")
			limit, err := strconv.Atoi(n)
			if !ok || err != nil {
				return invalidValue("--rate-limit: %s is not LIMIT/PERIOD such as 100/PT1M", keyledger.Quote(rateLimit))
			}
			c.RateLimit = &keyledger.RateLimit{Limit: limit, Per: per}
		}
		c.Scopes, c.AllowedCIDRs = scopes, cidrs
		var k keyledger.Key
		if err := cl.call(ctx, "cmd.key.issue", c, &k); err != nil || cl.json {
			return err
		}
		if k.Token == "" {
			fmt.Fprintf(cl.stdout, "Key %s was already issued by this request; its token was shown then and cannot be shown again.\n", k.ID)
			return nil
		}
		fmt.Fprintf(cl.stdout, "Key issued. Copy the token now: it is never shown again.\n\n  %s\n\n", k.Token)
		printKey(cl.stdout, &k)
		return nil
	}
}

func keyList(fs *flag.FlagSet) runFunc {
	var f keyledger.KeyFilter
	var expiresBefore string
	fs.StringVar(&f.Owner, "owner", "", "only this owner's keys (`USER_ID`)")
	fs.StringVar(&f.Status, "status", "", "only keys in this `STATUS`: active, expired, revoked, deleted")
	fs.StringVar(&f.Q, "q", "", "`TEXT` in a key's name, or a whole key ID, owner ID or owner name")
	fs.StringVar(&f.CreatedBy, "created-by", "", "only keys created by this `USER_ID`")
	fs.StringVar(&expiresBefore, "expires-before", "", "only keys whose expires_at is before this RFC 3339 `TIME`")
	fs.BoolVar(&f.NeverExpires, "never-expires", false, "only keys issued without an expiry")
	fs.IntVar(&f.Limit, "limit", 100, "keys per page, `N` from 1 to 1000")
	fs.StringVar(&f.Cursor, "cursor", "", "continue after this `CURSOR` (printed with a full page)")
	fs.StringVar(&f.AsOf, "as-of", "", "the keys as they stood at this RFC 3339 `TIME`, this long ago (10m, PT1H), or seq:N (rebuilt by replay)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments; search with --q TEXT")
		}
		if f.Limit < 1 || f.Limit > 1000 {
			return invalidValue("--limit must be 1 to 1000, not %d", f.Limit)
		}
		if expiresBefore != "" {
			t, err := time.Parse(time.RFC3339, expiresBefore)
			if err != nil {
				return invalidValue("--expires-before: %s is not an RFC 3339 time such as 2027-01-31T00:00:00Z", keyledger.Quote(expiresBefore))
			}
			f.ExpiresBefore = &t
		}
		if d, ok := ago(f.AsOf); ok { // --as-of 10m: ten minutes ago
			f.AsOf = time.Now().Add(-d).UTC().Format(time.RFC3339)
		}
		var page keyledger.KeyPage
		if err := cl.call(ctx, "query.keys", f, &page); err != nil || cl.json {
			return err
		}
		printAsOf(cl.stdout, f.AsOf)
		printKeys(cl.stdout, page.Keys)
		if page.NextCursor != "" {
			fmt.Fprintf(cl.stdout, "\nmore: --cursor %s\n", page.NextCursor)
		}
		return nil
	}
}

// oneKeyID returns the single positional key ID a subcommand takes.
func oneKeyID(args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError("takes one KEY_ID, not %d arguments", len(args))
	}
	return args[0], keyIDs(args)
}

// keyIDs checks positional key IDs before anything is sent: a token pasted
// where a key ID goes is named as a mistake, and never printed back.
func keyIDs(args []string) error {
	for _, id := range args {
		if err := keyledger.CheckKeyID("KEY_ID", id); err != nil {
			return err
		}
	}
	return nil
}

func keyShow(fs *flag.FlagSet) runFunc {
	var asOf string
	fs.StringVar(&asOf, "as-of", "", "the key as it stood at this RFC 3339 `TIME`, this long ago (10m, PT1H), or seq:N (rebuilt by replay)")
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID(args)
		if err != nil {
			return err
		}
		if d, ok := ago(asOf); ok {
			asOf = time.Now().Add(-d).UTC().Format(time.RFC3339)
		}
		var k keyledger.Key
		if err := cl.call(ctx, "query.key", map[string]string{"key_id": id, "as_of": asOf}, &k); err != nil || cl.json {
			return err
		}
		printAsOf(cl.stdout, asOf)
		printKey(cl.stdout, &k)
		return nil
	}
}

// printAsOf heads an answer given --as-of, which shows the past, not now.
func printAsOf(out io.Writer, asOf string) {
	if asOf != "" {
		fmt.Fprintf(out, "as of %s (the ledger as it stood then, rebuilt by replay; statuses may differ now; "+
			"last use is not replayed)\n\n", asOf)
	}
}

func keyUpdate(fs *flag.FlagSet) runFunc {
	var name, desc optionalString
	fs.Var(&name, "name", "new `NAME`")
	fs.Var(&desc, "description", "new description `TEXT` (\"\" clears it)")
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID(args)
		if err != nil {
			return err
		}
		if name.v == nil && desc.v == nil {
			return usageError("give --name or --description")
		}
		var k keyledger.Key
		if err := cl.call(ctx, "cmd.key.update", commands.UpdateKey{KeyID: id, Name: name.v, Description: desc.v}, &k); err != nil || cl.json {
			return err
		}
		printKey(cl.stdout, &k)
		return nil
	}
}

// optionalString is a flag that tells "not given" from "given empty".
type optionalString struct{ v *string }

func (o *optionalString) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}
func (o *optionalString) Set(s string) error { o.v = &s; return nil }

func keyRevoke(fs *flag.FlagSet) runFunc {
	reason := fs.String("reason", "", "why, for the audit trail (`TEXT`)")
	var m commands.RevokeMatching
	var after, before string
	fs.StringVar(&m.Owner, "owner", "", "instead of KEY_IDs: every active key of this `USER` (ID or name)")
	fs.StringVar(&m.CreatedBy, "created-by", "", "instead of KEY_IDs: every active key issued by this `USER` (ID or name)")
	fs.StringVar(&after, "created-after", "", "with a filter: issued at or after this RFC 3339 `TIME`")
	fs.StringVar(&before, "created-before", "", "with a filter: issued before this RFC 3339 `TIME`")
	fs.StringVar(&m.UsedFrom, "used-from", "", "instead of KEY_IDs: every active key used from an address in this `CIDR` in the last 30 days")
	fs.BoolVar(&m.DryRun, "dry-run", false, "with a filter: list the keys that match and revoke nothing")
	return func(ctx context.Context, cl *client, args []string) error {
		filtered := m.Owner != "" || m.CreatedBy != "" || after != "" || before != "" || m.UsedFrom != ""
		switch {
		case len(args) == 0 && !filtered:
			return usageError("takes KEY_IDs, or a filter: --owner, --created-by, --created-after, --created-before, --used-from")
		case len(args) > 0 && filtered:
			return usageError("takes KEY_IDs or a filter, not both")
		case m.DryRun && !filtered:
			return usageError("--dry-run goes with a filter")
		}
		if filtered {
			var err error
			if m.CreatedAfter, err = optionalTime("--created-after", after); err != nil {
				return err
			}
			if m.CreatedBefore, err = optionalTime("--created-before", before); err != nil {
				return err
			}
			m.Reason = *reason
			var res commands.MatchResult
			if err := cl.call(ctx, "cmd.key.revoke_matching", m, &res); err != nil || cl.json {
				return err
			}
			for _, k := range res.Matched {
				fmt.Fprintf(cl.stdout, "matched %s  owner %s  %q  issued %s by %s\n", k.KeyID, userLabel(k.OwnerName, k.Owner), k.Name,
					whenExact(&k.CreatedAt, ""), userLabel(k.CreatedByName, k.CreatedBy))
			}
			switch {
			case res.DryRun:
				fmt.Fprintf(cl.stdout, "%d key(s) match; nothing was revoked (dry run)\n", len(res.Matched))
				return nil
			case len(res.Matched) == 0:
				fmt.Fprintln(cl.stdout, "no active key matches; nothing was revoked")
				return nil
			}
			return printOutcome(cl, "revoked", res.Revoked, res.Failed)
		}
		if err := keyIDs(args); err != nil {
			return err
		}
		var res commands.RevokeResult
		if err := cl.call(ctx, "cmd.key.revoke", commands.RevokeKeys{KeyIDs: args, Reason: *reason}, &res); err != nil || cl.json {
			return err
		}
		return printOutcome(cl, "revoked", res.Revoked, res.Failed)
	}
}

// optionalTime parses an RFC 3339 flag value; "" is nil.
func optionalTime(flagName, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, invalidValue("%s: %s is not an RFC 3339 time such as 2027-01-31T00:00:00Z", flagName, keyledger.Quote(v))
	}
	return &t, nil
}

func keyDelete(fs *flag.FlagSet) runFunc {
	owner := fs.String("owner", "", "with --all: whose keys (`USER_ID`)")
	all := fs.Bool("all", false, "delete every key of --owner")
	reason := fs.String("reason", "", "why, kept in the audit trail and shown by key show (`TEXT`)")
	return func(ctx context.Context, cl *client, args []string) error {
		if *all != (*owner != "") || (*all && len(args) > 0) || (!*all && len(args) == 0) {
			return usageError("takes KEY_IDs, or --owner USER_ID --all")
		}
		if err := keyIDs(args); err != nil {
			return err
		}
		var res commands.DeleteResult
		if err := cl.call(ctx, "cmd.key.delete", commands.DeleteKeys{KeyIDs: args, Owner: *owner, All: *all, Reason: *reason}, &res); err != nil || cl.json {
			return err
		}
		return printOutcome(cl, "deleted", res.Deleted, res.Failed)
	}
}

// keyInbox prints the token's inbox prefix; it sends nothing.
func keyInbox(*flag.FlagSet) runFunc {
	return func(_ context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return &usageErr{"key inbox takes no arguments; it reads your token (--token-file, $KEYLEDGER_TOKEN or ./keyledger-data/admin.token)"}
		}
		if err := cl.loadToken(); err != nil {
			return err
		}
		inbox := natsauth.KeyInbox(cl.token)
		if inbox == "" {
			return invalidValue("this is a gateway credential; its inbox prefix is _INBOX_gw_<name>")
		}
		if cl.json {
			fmt.Fprintf(cl.stdout, "{\"inbox_prefix\":%q}\n", inbox)
			return nil
		}
		fmt.Fprintln(cl.stdout, inbox)
		return nil
	}
}

func keyRegenerate(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID(args)
		if err != nil {
			return err
		}
		var k keyledger.Key
		if err := cl.call(ctx, "cmd.key.regenerate", map[string]string{"key_id": id}, &k); err != nil || cl.json {
			return err
		}
		if k.Token == "" {
			fmt.Fprintf(cl.stdout, "Key %s was already regenerated by this request; its token was shown then.\n", k.ID)
			return nil
		}
		fmt.Fprintf(cl.stdout, "Key regenerated. Copy the new token now: it is never shown again.\n\n  %s\n\n", k.Token)
		printKey(cl.stdout, &k)
		return nil
	}
}

// printOutcome prints what a multi-key command did: what it did on stdout,
// each key it could not act on on stderr as `error: <code>: <message>`,
// like any other failure. Any failure makes the command fail, so scripts
// notice.
func printOutcome(cl *client, verb string, done []string, failed []commands.Failure) error {
	for _, id := range done {
		fmt.Fprintf(cl.stdout, "%s %s\n", verb, id)
	}
	for _, f := range failed {
		msg := f.Message
		if !strings.Contains(msg, f.KeyID) {
			msg = "key " + f.KeyID + ": " + msg
		}
		fmt.Fprintf(cl.stderr, "error: %s: %s\n", f.Code, msg)
	}
	if len(failed) > 0 {
		return errReported
	}
	return nil
}
