// Command keyledger is the API-key ledger: `keyledger serve` runs the server
// (embedded NATS JetStream and SQLite by default), and the other subcommands
// are its client, speaking the NATS command API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// version is reported by the NATS micro service and `keyledger version`.
const version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Run runs one invocation and returns the process exit code: 0 on success
// (and for help), 1 when the command failed, 2 for a wrong command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	lead, args := leadingClientFlags(args)
	if len(args) == 0 {
		return usageFail(stderr, "", "no command given", lead)
	}
	if name, twice := givenTwice(lead, args); twice {
		// An alias (K="keyledger --token-file admin.token") and a flag
		// after the command: which one would act is a guess, and a wrong
		// one acts as somebody else.
		return usageFail(stderr, "", fmt.Sprintf("--%s is given both before and after the command; give it once", name), nil)
	}
	if len(lead) > 0 { // keyledger --server URL key list: the flags apply to the subcommand
		args = append(slices.Clone(args), lead...)
	}
	switch {
	case isHelp(args[0]) && len(args) > 1: // keyledger help key issue
		return Run(ctx, append(args[1:len(args):len(args)], "--help"), stdout, stderr)
	case isHelp(args[0]):
		printUsage(stdout)
		return exitOK
	case args[0] == "version":
		fmt.Fprintln(stdout, "keyledger", version)
		return exitOK
	case args[0] == "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case args[0] == "nats-keys":
		return natsKeys(ctx, args[1:], stdout, stderr)
	case args[0] == "gateway-credentials":
		return gatewayCredentials(ctx, args[1:], stdout, stderr)
	case len(args) > 1 && args[0] == "admin" && args[1] == "recover": // not a NATS client: see recover.go
		return adminRecover(ctx, args[2:], stdout, stderr)
	}
	if sc, ok := findSubcommand(args[0]); ok {
		return runClient(ctx, sc, args[1:], stdout, stderr)
	}
	g, ok := findGroup(args[0])
	if !ok {
		return usageFail(stderr, "", fmt.Sprintf("unknown command %q", args[0]), args)
	}
	if len(args) == 1 {
		var names []string
		for _, sc := range inGroup(g.name) {
			names = append(names, strings.TrimPrefix(sc.name, g.name+" "))
		}
		return usageFail(stderr, g.name, "missing subcommand ("+strings.Join(names, ", ")+")", nil)
	}
	if isHelp(args[1]) {
		printGroupHelp(stdout, g)
		return exitOK
	}
	sc, ok := findSubcommand(g.name + " " + args[1])
	if !ok {
		msg := fmt.Sprintf("unknown command %q", g.name+" "+args[1])
		if other, ok := otherWords[g.name+" "+args[1]]; ok {
			msg += fmt.Sprintf(" (to do that: keyledger %s)", other)
		}
		return usageFail(stderr, g.name, msg, args)
	}
	return runClient(ctx, sc, args[2:], stdout, stderr)
}

// otherWords maps the names people reach for, taken from other key
// managers, to the command that does it here.
var otherWords = map[string]string{
	"key rename": "key update KEY_ID --name NAME",
	"key create": "key issue",
	"key new":    "key issue",
	"key rotate": "key revoke KEY_ID, then key regenerate KEY_ID",
	"key get":    "key show KEY_ID",
	"key rm":     "key delete KEY_ID",
	"key ls":     "key list",
	"user ls":    "user list",
}

// leadingClientFlags splits off connection flags given before the command
// (keyledger --server URL --json key list), which every client subcommand
// takes after its own name.
func leadingClientFlags(args []string) (lead, rest []string) {
	for len(args) > 0 {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch {
		case !strings.HasPrefix(args[0], "-"):
			return lead, args
		case name == "json":
			lead, args = append(lead, args[0]), args[1:]
		case name == "server" || name == "token-file" || name == "timeout":
			n := 2
			if hasValue || len(args) == 1 {
				n = 1
			}
			lead, args = append(lead, args[:n]...), args[n:]
		default:
			return lead, args
		}
	}
	return lead, args
}

// givenTwice returns a client flag of lead that args give again.
func givenTwice(lead, args []string) (string, bool) {
	flagName := func(arg string) string {
		if !strings.HasPrefix(arg, "-") {
			return ""
		}
		name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		return name
	}
	for _, l := range lead {
		name := flagName(l)
		if name == "" {
			continue // a value
		}
		for _, a := range args {
			if a == "--" {
				break
			}
			if flagName(a) == name {
				return name, true
			}
		}
	}
	return "", false
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	m := NewMain()
	m.Stdout = stdout
	if err := m.ParseFlags(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return usageFail(stderr, "serve", err.Error(), args)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-m.Done():
	}
	m.Logger.Info("shutting down")
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	return 0
}
