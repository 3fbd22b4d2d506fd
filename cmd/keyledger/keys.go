package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func usageError(format string, args ...any) error {
	return keyledger.Errorf(keyledger.EInvalid, format, args...)
}

func keyIssue(fs *flag.FlagSet) runFunc {
	var c commands.IssueKey
	var scopes, cidrs stringList
	var expiresAt, rateLimit string
	fs.StringVar(&c.Name, "name", "", "key name, unique among the owner's active keys")
	fs.StringVar(&c.Owner, "owner", "", "owner's user ID (admins; default: you)")
	fs.StringVar(&c.Description, "description", "", "what the key is for")
	fs.StringVar(&c.ExpiresIn, "expires-in", "", "expiry as an ISO 8601 period (P30D), or never where policy allows")
	fs.StringVar(&expiresAt, "expires-at", "", "expiry as an RFC 3339 time")
	fs.Var(&scopes, "scope", "a scope the key grants (repeatable)")
	fs.Var(&cidrs, "cidr", "a network the key may be used from (repeatable)")
	fs.StringVar(&rateLimit, "rate-limit", "", "verifications allowed per period, e.g. 100/PT1M")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("key issue takes no arguments; use --name")
		}
		if expiresAt != "" {
			t, err := time.Parse(time.RFC3339, expiresAt)
			if err != nil {
				return usageError("--expires-at: %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", expiresAt)
			}
			c.ExpiresAt = &t
		}
		if rateLimit != "" {
			n, per, ok := strings.Cut(rateLimit, "/")
			limit, err := strconv.Atoi(n)
			if !ok || err != nil {
				return usageError("--rate-limit: %q is not LIMIT/PERIOD such as 100/PT1M", rateLimit)
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
	fs.StringVar(&f.Owner, "owner", "", "only this owner's keys")
	fs.StringVar(&f.Status, "status", "", "only keys in this status: active, expired, revoked, deleted")
	fs.StringVar(&f.Q, "q", "", "search names, key IDs and owners")
	fs.StringVar(&f.CreatedBy, "created-by", "", "only keys created by this user ID")
	fs.StringVar(&expiresBefore, "expires-before", "", "only keys expiring before this RFC 3339 time")
	fs.BoolVar(&f.NeverExpires, "never-expires", false, "only keys that never expire")
	fs.IntVar(&f.Limit, "limit", 100, "keys per page")
	fs.StringVar(&f.Cursor, "cursor", "", "continue after this cursor (printed with a full page)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("key list takes no arguments")
		}
		if expiresBefore != "" {
			t, err := time.Parse(time.RFC3339, expiresBefore)
			if err != nil {
				return usageError("--expires-before: %q is not an RFC 3339 time", expiresBefore)
			}
			f.ExpiresBefore = &t
		}
		var page keyledger.KeyPage
		if err := cl.call(ctx, "query.keys", f, &page); err != nil || cl.json {
			return err
		}
		printKeys(cl.stdout, page.Keys)
		if page.NextCursor != "" {
			fmt.Fprintf(cl.stdout, "\nmore: --cursor %s\n", page.NextCursor)
		}
		return nil
	}
}

// oneKeyID returns the single positional key ID a subcommand takes.
func oneKeyID(name string, args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError("%s takes one KEY_ID", name)
	}
	return args[0], nil
}

func keyShow(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID("key show", args)
		if err != nil {
			return err
		}
		var k keyledger.Key
		if err := cl.call(ctx, "query.key", map[string]string{"key_id": id}, &k); err != nil || cl.json {
			return err
		}
		printKey(cl.stdout, &k)
		return nil
	}
}

func keyUpdate(fs *flag.FlagSet) runFunc {
	var name, desc optionalString
	fs.Var(&name, "name", "new name")
	fs.Var(&desc, "description", "new description")
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID("key update", args)
		if err != nil {
			return err
		}
		if name.v == nil && desc.v == nil {
			return usageError("key update: give --name or --description")
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
	reason := fs.String("reason", "", "why, for the audit trail")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) == 0 {
			return usageError("key revoke takes one or more KEY_IDs")
		}
		var res commands.RevokeResult
		if err := cl.call(ctx, "cmd.key.revoke", commands.RevokeKeys{KeyIDs: args, Reason: *reason}, &res); err != nil || cl.json {
			return err
		}
		return printOutcome(cl, "revoked", res.Revoked, res.Failed)
	}
}

func keyDelete(fs *flag.FlagSet) runFunc {
	owner := fs.String("owner", "", "with --all: whose keys")
	all := fs.Bool("all", false, "delete every key of --owner")
	return func(ctx context.Context, cl *client, args []string) error {
		if *all != (*owner != "") || (*all && len(args) > 0) || (!*all && len(args) == 0) {
			return usageError("key delete takes KEY_IDs, or --owner USER --all")
		}
		var res commands.DeleteResult
		if err := cl.call(ctx, "cmd.key.delete", commands.DeleteKeys{KeyIDs: args, Owner: *owner, All: *all}, &res); err != nil || cl.json {
			return err
		}
		return printOutcome(cl, "deleted", res.Deleted, res.Failed)
	}
}

func keyRegenerate(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		id, err := oneKeyID("key regenerate", args)
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

// printOutcome prints what a multi-key command did; any failure makes the
// command fail, so scripts notice.
func printOutcome(cl *client, verb string, done []string, failed []commands.Failure) error {
	for _, id := range done {
		fmt.Fprintf(cl.stdout, "%s %s\n", verb, id)
	}
	for _, f := range failed {
		fmt.Fprintf(cl.stdout, "failed %s: %s: %s\n", f.KeyID, f.Code, f.Message)
	}
	if len(failed) > 0 {
		return errors.New(strconv.Itoa(len(failed)) + " key(s) not " + verb)
	}
	return nil
}
