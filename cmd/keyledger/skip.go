package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/keyledger/keyledger/commands"
)

// adminSkipEvent is `keyledger admin skip-event SEQ --reason TEXT`: the way
// past an event the projections halted on. It stores an EventSkipped; the
// event itself stays in the stream.
func adminSkipEvent(fs *flag.FlagSet) runFunc {
	reason := fs.String("reason", "", "why the event may be passed over (required; stored in the ledger)")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) != 1 {
			return usageError("admin skip-event takes one SEQ, the stream sequence /readyz names")
		}
		seq, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil || seq == 0 {
			return usageError("admin skip-event: SEQ must be a stream sequence (a positive number)")
		}
		var res commands.SkipResult
		if err := cl.call(ctx, "cmd.ops.skip", commands.SkipEvent{Seq: seq, Reason: *reason}, &res); err != nil || cl.json {
			return err
		}
		fmt.Fprintf(cl.stdout, "skipped event %d; recorded at sequence %d\n", res.Seq, res.RecordedSeq)
		if res.HaltedAgain != "" {
			fmt.Fprintf(cl.stdout, "projections stopped again: %s\n", res.HaltedAgain)
		}
		return nil
	}
}
