package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

func userAdd(fs *flag.FlagSet) runFunc {
	var roles stringList
	kind := fs.String("kind", "person", "person or service")
	fs.Var(&roles, "role", "a role: admin, developer or auditor (repeatable)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("user add takes one NAME")
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
	q := fs.String("q", "", "only users with this name or ID")
	return func(ctx context.Context, cl *client, args []string) error {
		var users []*keyledger.User
		if err := cl.call(ctx, "query.users", map[string]string{"q": *q}, &users); err != nil || cl.json {
			return err
		}
		printUsers(cl, users)
		return nil
	}
}

func userRoles(fs *flag.FlagSet) runFunc {
	var roles stringList
	fs.Var(&roles, "role", "a role: admin, developer or auditor (repeatable; none removes all)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("user roles takes one USER_ID")
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
			return usageError("user deactivate takes one USER_ID")
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
	w := tabwriter.NewWriter(cl.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "USER ID\tNAME\tKIND\tROLES\tACTIVE")
	for _, u := range users {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", u.ID, u.Name, u.Kind, joinOr(u.Roles, "-"), u.Active)
	}
	w.Flush()
}

func settingsShow(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, cl *client, args []string) error {
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
	maxKeys := fs.Int("max-active-keys", 0, "most active keys per user (1-1000)")
	fs.Var(&enabled, "enabled", "whether API keys may be issued and used")
	fs.Var(&maxExp, "max-expiry", "longest expiry a key may have (P180D), or never")
	fs.Var(&defExp, "default-expiry", "expiry of keys issued without one (P90D)")
	fs.Var(&inactivity, "inactivity-expiry", "expire keys unused this long (P90D), or none")
	return func(ctx context.Context, cl *client, args []string) error {
		c := commands.SetSettings{Enabled: enabled.v, MaxExpiry: maxExp.v, DefaultExpiry: defExp.v, InactivityExpiry: inactivity.v}
		if *maxKeys != 0 {
			c.MaxActiveKeysPerUser = maxKeys
		}
		var s keyledger.Settings
		if err := cl.call(ctx, "cmd.settings.set", c, &s); err != nil || cl.json {
			return err
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
	var b bool
	if _, err := fmt.Sscan(s, &b); err != nil {
		return err
	}
	o.v = &b
	return nil
}
func (o *optionalBool) IsBoolFlag() bool { return true }

func printSettings(cl *client, s keyledger.Settings) {
	w := tabwriter.NewWriter(cl.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "enabled\t%t\n", s.Enabled)
	fmt.Fprintf(w, "max_expiry\t%s\n", s.MaxExpiry)
	fmt.Fprintf(w, "default_expiry\t%s\n", s.DefaultExpiry)
	fmt.Fprintf(w, "inactivity_expiry\t%s\n", s.InactivityExpiry)
	fmt.Fprintf(w, "max_active_keys_per_user\t%d\n", s.MaxActiveKeysPerUser)
	if s.UpdatedAt != nil {
		fmt.Fprintf(w, "updated\t%s by %s\n", s.UpdatedAt.Format("2006-01-02 15:04:05Z"), s.UpdatedBy)
	}
	w.Flush()
}
