package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyledger/keyledger"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed, or the server refused it
	exitUsage = 2 // the command line itself is wrong; nothing was sent
)

const serverUsage = `Server:
  keyledger serve [--data DIR] [--nats-listen ADDR [--nats-sync always|1m] | --nats URL --replicas 3] [--http ADDR]
      Run the ledger: embedded NATS JetStream and SQLite under --data (default ./keyledger-data).
      The first start writes the first admin's token to DIR/admin.token.
  keyledger serve --nats URL --nats-nkey FILE --nats-callout-nkey FILE
      On a NATS cluster running deploy/nats/accounts.conf: keyledger's NATS user and callout key.
  keyledger gateway-credentials --name NAME [--data DIR] [--out FILE]
      Write a gateway's read-only NATS credential (the event stream and notifications).
  keyledger gateway-credentials --from FILE [--data DIR]
      Let this instance accept a gateway credential another instance made (every instance needs each).
  keyledger gateway-credentials --withdraw NAME [--data DIR]
      Withdraw a gateway's credential; a running server closes its open connections (do it on every instance).
  keyledger nats-keys --out DIR
      Write the keys a NATS cluster and keyledger share (deploy/nats, docker compose).
  keyledger admin recover [--data DIR]
      Break-glass, on the server's host: register a fresh admin and write their token to
      DIR/admin.token, whether serve is running or stopped.
`

const clientFlagsUsage = `Every client subcommand also takes:
  --server URL       NATS URL of a keyledger server (default $KEYLEDGER_SERVER; else, where serve keeps
                     ./keyledger-data (or the --data DIR a command takes), the URL that server runs on;
                     else nats://127.0.0.1:4222)
  --token-file FILE  file holding your API key; without it, $KEYLEDGER_TOKEN, else ./keyledger-data/admin.token
  --json             print JSON for scripts
  --timeout 20s      how long to wait for an answer
`

// printUsage prints the whole command list, built from the subcommand table.
func printUsage(w io.Writer) {
	fmt.Fprint(w, "keyledger — the API-key ledger\n\nUsage: keyledger COMMAND [ARGS] [FLAGS]\n\n", serverUsage)
	fmt.Fprint(w, "\nClient (over NATS; prints tables for people, --json for scripts):\n")
	for _, g := range groups {
		scs := inGroup(g.name)
		if len(scs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n %s — %s\n", g.name, g.summary)
		for _, sc := range scs {
			printSynopsis(w, sc)
		}
	}
	fmt.Fprintln(w)
	for _, sc := range subcommands {
		if !strings.Contains(sc.name, " ") {
			printSynopsis(w, sc)
		}
	}
	fmt.Fprint(w, "\nOther:\n",
		"  keyledger version\n",
		"  keyledger help [COMMAND]\n\n",
		clientFlagsUsage,
		"\nRun 'keyledger COMMAND --help' (such as 'keyledger key issue --help') for a command's flags and examples.\n")
}

func printSynopsis(w io.Writer, sc subcommand) {
	fmt.Fprintf(w, "  keyledger %s %s\n      %s\n", sc.name, sc.args, sc.summary)
}

// printGroupHelp prints a group's subcommands and an example of each.
func printGroupHelp(w io.Writer, g group) {
	fmt.Fprintf(w, "Usage: keyledger %s SUBCOMMAND [ARGS] [FLAGS]\n\nkeyledger %s: %s.\n\nSubcommands:\n", g.name, g.name, g.summary)
	scs := inGroup(g.name)
	if len(scs) == 0 {
		fmt.Fprintln(w, "  (none in this build)")
	}
	for _, sc := range scs {
		printSynopsis(w, sc)
	}
	if len(scs) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, sc := range scs {
			fmt.Fprintf(w, "  keyledger %s\n", sc.examples[0])
		}
	}
	fmt.Fprintf(w, "\nRun 'keyledger %s SUBCOMMAND --help' for its flags and more examples.\n", g.name)
}

// printHelp prints one subcommand's usage line, flags and examples.
func printHelp(w io.Writer, sc subcommand) {
	fmt.Fprintf(w, "Usage: keyledger %s %s\n\n%s\n", sc.name, sc.args, sc.summary)
	fs := declaredFlags(sc)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
				kind = ""
			}
			line := "  --" + f.Name
			if kind != "" {
				line += " " + kind
			}
			fmt.Fprintf(w, "%-30s %s", line, usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	fmt.Fprint(w, "\n", clientFlagsUsage, "\nExamples:\n")
	for _, ex := range sc.examples {
		fmt.Fprintf(w, "  keyledger %s\n", ex)
	}
}

// usageFail prints a usage error as one line that points to the help which
// explains it, and returns exitUsage. args are what the user typed: any of
// them that could be a token is blanked out of the message.
func usageFail(stderr io.Writer, where, msg string, args []string) int {
	for _, a := range args {
		_, value, _ := strings.Cut(a, "=") // --flag=VALUE
		for _, s := range []string{a, value} {
			if s != "" && keyledger.LooksSecret(s) {
				msg = strings.ReplaceAll(msg, s, "(token not shown)")
			}
		}
	}
	help := "keyledger --help"
	prefix := "keyledger: "
	if where != "" {
		help = "keyledger " + where + " --help"
		prefix = "keyledger " + where + ": "
	}
	fmt.Fprintf(stderr, "%s%s (see '%s')\n", prefix, strings.ReplaceAll(msg, "\n", " "), help)
	return exitUsage
}
