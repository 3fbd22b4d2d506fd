package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

func userAdd(fs *flag.FlagSet) runFunc {
	var roles stringList
	kind := fs.String("kind", "person", "`KIND`: person or service")
	fs.Var(&roles, "role", "a `ROLE`: admin, developer or auditor (repeatable)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("takes one NAME, not %d arguments (quote a name with spaces)", len(args))
		}
		var u keyledger.User
		if err := cl.call(ctx, "cmd.user.register", commands.RegisterUser{Name: args[0], Kind: *kind, Roles: roles}, &u); err != nil || cl.json {
			return err
		}
		printUsers(cl, []*keyledger.User{&u})
		return nil
	}
}

func userList(fs *flag.FlagSet) runFunc {
	q := fs.String("q", "", "only users whose name holds `TEXT`, or whose ID it is")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments; search with --q TEXT")
		}
		var users []*keyledger.User
		if err := cl.call(ctx, "query.users", map[string]string{"q": *q}, &users); err != nil || cl.json {
			return err
		}
		printUsers(cl, users)
		return nil
	}
}

// whoami prints the caller's identity (query.whoami), which needs no role.
func whoami(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments")
		}
		var id commands.Identity
		if err := cl.call(ctx, "query.whoami", struct{}{}, &id); err != nil || cl.json {
			return err
		}
		w := newTable(cl.stdout)
		fmt.Fprintf(w, "user\t%s\n", userLabel(id.Name, id.ID))
		fmt.Fprintf(w, "kind\t%s\n", id.Kind)
		fmt.Fprintf(w, "roles\t%s\n", joinOr(id.Roles, "none (this key may verify and nothing else)"))
		fmt.Fprintf(w, "key\t%s\n", orDash(id.KeyID))
		return w.Flush()
	}
}

func userRoles(fs *flag.FlagSet) runFunc {
	var roles stringList
	fs.Var(&roles, "role", "a `ROLE`: admin, developer or auditor (repeatable; none removes all)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("takes one USER_ID, not %d arguments", len(args))
		}
		if roles == nil {
			roles = stringList{}
		}
		var u keyledger.User
		if err := cl.call(ctx, "cmd.user.roles", commands.ChangeRoles{UserID: args[0], Roles: roles}, &u); err != nil || cl.json {
			return err
		}
		printUsers(cl, []*keyledger.User{&u})
		return nil
	}
}

func userDeactivate(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("takes one USER_ID, not %d arguments", len(args))
		}
		var u keyledger.User
		if err := cl.call(ctx, "cmd.user.deactivate", commands.DeactivateUser{UserID: args[0]}, &u); err != nil || cl.json {
			return err
		}
		fmt.Fprintf(cl.stdout, "deactivated %s (%s); every key of theirs is deleted\n", u.ID, u.Name)
		return nil
	}
}

func printUsers(cl *client, users []*keyledger.User) {
	w := newTable(cl.stdout)
	fmt.Fprintln(w, "USER ID\tNAME\tKIND\tROLES\tACTIVE")
	for _, u := range users {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", u.ID, u.Name, u.Kind, joinOr(u.Roles, "-"), u.Active)
	}
	w.Flush()
}

func settingsShow(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments")
		}
		var s keyledger.Settings
		if err := cl.call(ctx, "query.settings", struct{}{}, &s); err != nil || cl.json {
			return err
		}
		printSettings(cl, s)
		return nil
	}
}

func settingsSet(fs *flag.FlagSet) runFunc {
	var enabled optionalBool
	var maxExp, defExp, inactivity optionalString
	var maxKeys optionalInt
	fs.Var(&maxKeys, "max-active-keys", "most active keys per user, `N` from 1 to 1000")
	fs.Var(&enabled, "enabled", "whether API keys may be issued and used (--enabled, --enabled=false)")
	fs.Var(&maxExp, "max-expiry", "longest expiry a key may have, a `PERIOD` from P1D to P365D, or never")
	fs.Var(&defExp, "default-expiry", "expiry of keys issued without one, a `PERIOD` from P1D to P365D (not above --max-expiry), or never")
	fs.Var(&inactivity, "inactivity-expiry", "expire keys unused this long, a `PERIOD` from P1D to P3650D, or none")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments, only flags")
		}
		c := commands.SetSettings{Enabled: enabled.v, MaxExpiry: maxExp.v, DefaultExpiry: defExp.v, InactivityExpiry: inactivity.v, MaxActiveKeysPerUser: maxKeys.v}
		if c == (commands.SetSettings{}) {
			return usageError("give at least one of --enabled, --max-expiry, --default-expiry, --inactivity-expiry, --max-active-keys")
		}
		var s keyledger.Settings
		if err := cl.call(ctx, "cmd.settings.set", c, &s); err != nil {
			return err
		}
		if c.InactivityExpiry != nil && s.InactivityExpiry != "none" {
			fmt.Fprintf(cl.stderr, "note: inactivity_expiry %s applies to every key now, admin keys and the bootstrap key too: "+
				"one unused that long expires (`keyledger admin recover` on the server's host if no admin key is left)\n", s.InactivityExpiry)
		}
		if cl.json {
			return nil
		}
		printSettings(cl, s)
		return nil
	}
}

// optionalBool is a boolean flag that tells "not given" from false.
type optionalBool struct{ v *bool }

func (o *optionalBool) String() string {
	if o.v == nil {
		return ""
	}
	return fmt.Sprint(*o.v)
}
func (o *optionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	o.v = &b
	return nil
}
func (o *optionalBool) IsBoolFlag() bool { return true }

// optionalInt is an integer flag that tells "not given" from 0, so that a
// value the server refuses (0) reaches it instead of being dropped.
type optionalInt struct{ v *int }

func (o *optionalInt) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.Itoa(*o.v)
}
func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	o.v = &n
	return nil
}

func printSettings(cl *client, s keyledger.Settings) {
	w := newTable(cl.stdout)
	fmt.Fprintf(w, "enabled\t%t\n", s.Enabled)
	fmt.Fprintf(w, "max_expiry\t%s\n", s.MaxExpiry)
	fmt.Fprintf(w, "default_expiry\t%s\n", s.DefaultExpiry)
	fmt.Fprintf(w, "inactivity_expiry\t%s\n", s.InactivityExpiry)
	fmt.Fprintf(w, "max_active_keys_per_user\t%d\n", s.MaxActiveKeysPerUser)
	if s.UpdatedAt != nil {
		fmt.Fprintf(w, "updated\t%s by %s\n", s.UpdatedAt.Format("2006-01-02 15:04:05Z"), userLabel(s.UpdatedByName, s.UpdatedBy))
	}
	w.Flush()
}
