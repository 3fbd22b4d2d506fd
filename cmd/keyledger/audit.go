package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/keyledger/keyledger/commands"
)

func auditSuspicious(fs *flag.FlagSet) runFunc {
	window := fs.String("window", "1h", "how far back to look: `DURATION` such as 30m, 1h or 2d, or an ISO 8601 period such as PT1H")
	limit := fs.Int("limit", 20, "at most `N` keys, 1 to 1000")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments")
		}
		w := *window
		if days, ok := strings.CutSuffix(w, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
			w = "P" + days + "D" // 2d, as people write it
		} else if d, err := time.ParseDuration(w); err == nil {
			w = fmt.Sprintf("PT%dS", int(d.Seconds()))
		}
		var r commands.SuspiciousReport
		if err := cl.call(ctx, "query.audit.suspicious", commands.SuspiciousQuery{Window: w, Limit: *limit}, &r); err != nil || cl.json {
			return err
		}
		if len(r.Findings) == 0 {
			fmt.Fprintf(cl.stdout, "Nothing unusual in the last %s.\n", *window)
			return nil
		}
		for i, f := range r.Findings {
			fmt.Fprintf(cl.stdout, "%d. key %s  owner %s (%s)  %s  score %.1f\n", i+1, f.KeyID, f.OwnerName, f.Owner, f.Status, f.Score)
			fmt.Fprintf(cl.stdout, "   %s\n", strings.Join(f.Evidence, "; "))
			if f.Revoke != "" {
				fmt.Fprintf(cl.stdout, "   revoke: %s\n\n", f.Revoke)
			} else {
				fmt.Fprintf(cl.stdout, "   already %s: nothing to revoke\n\n", f.Status)
			}
		}
		return nil
	}
}
