// Command keyledger is the API-key ledger: `keyledger serve` runs the server
// (embedded NATS JetStream and SQLite by default), and the other subcommands
// are its client, speaking the NATS command API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is reported by the NATS micro service and `keyledger version`.
const version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `keyledger — the API-key ledger

Server:
  keyledger serve [--data DIR] [--nats-listen ADDR | --nats URL --replicas 3] [--http ADDR]
        [--nats-nkey FILE --nats-callout-nkey FILE]   (with --nats: keyledger's NATS user and callout issuer)
  keyledger gateway-credentials --name NAME [--data DIR] [--out FILE]   (a gateway's read-only NATS credential)
  keyledger nats-keys --out DIR                  (keys for a NATS cluster running deploy/nats/accounts.conf)

Client (over NATS; --server URL, token from KEYLEDGER_TOKEN or --token-file, --json for scripts):
  keyledger key issue --name NAME [--owner USER] [--description D] [--expires-in P30D | --expires-at TIME]
                      [--scope S]... [--cidr CIDR]... [--rate-limit 100/PT1M]
  keyledger key list [--owner USER] [--status active|expired|revoked|deleted] [--q TEXT] [--limit N]
  keyledger key show KEY_ID
  keyledger key update KEY_ID [--name NAME] [--description D]
  keyledger key revoke KEY_ID... [--reason TEXT]
  keyledger key regenerate KEY_ID
  keyledger key delete KEY_ID... | --owner USER --all
  keyledger user add NAME [--kind person|service] [--role ROLE]...
  keyledger user list [--q NAME]
  keyledger user roles USER_ID --role ROLE...
  keyledger user deactivate USER_ID
  keyledger settings show
  keyledger settings set [--enabled=true|false] [--max-expiry P180D|never] [--default-expiry P90D]
                         [--inactivity-expiry P90D|none] [--max-active-keys N]
  keyledger watch [--events revoked,deleted,expired] [--since SEQ]
  keyledger bench [--duration 10s] [--http-connections 8] [--nats-requests 50] [--keys 10000] [--million]
  keyledger version
`

// Run runs one invocation and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if args[0] == "version" {
		fmt.Fprintln(stdout, "keyledger", version)
		return 0
	}
	if args[0] == "serve" {
		return serve(ctx, args[1:], stdout, stderr)
	}
	if args[0] == "nats-keys" {
		return natsKeys(ctx, args[1:], stdout, stderr)
	}
	if args[0] == "gateway-credentials" {
		return gatewayCredentials(ctx, args[1:], stdout, stderr)
	}
	if args[0] == "bench" {
		return benchMain(ctx, args[1:], stdout, stderr)
	}
	if cmd, ok := singleWord[args[0]]; ok {
		return runClient(ctx, cmd, args[1:], stdout, stderr)
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, ok := clientCommands[args[0]+" "+args[1]]
	if !ok {
		fmt.Fprintf(stderr, "keyledger: unknown command %q\n\n%s", args[0]+" "+args[1], usage)
		return 2
	}
	return runClient(ctx, cmd, args[2:], stdout, stderr)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	m := NewMain()
	m.Stdout = stdout
	if err := m.ParseFlags(args); err != nil {
		return 2
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
