package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	kclient "github.com/keyledger/keyledger/client"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
)

// client is what every client subcommand shares: the connection, the token,
// and how to print.
type client struct {
	server string
	// serverGiven: --server or $KEYLEDGER_SERVER named the server.
	serverGiven bool
	tokenFile   string
	json        bool
	timeout     time.Duration
	stdout      io.Writer
	stderr      io.Writer // for what is not output: progress, hints
	nc          *nats.Conn
	token       string
	denied      chan string // subjects NATS refused (see watchDenied)
}

// runFunc does a client subcommand's work with its positional arguments.
type runFunc func(ctx context.Context, c *client, args []string) error

// clientCommand declares a subcommand's own flags on fs and returns what runs
// once they are parsed.
type clientCommand func(fs *flag.FlagSet) runFunc

// usageErr is a wrong command line found after parsing (a missing or extra
// argument): reported in one line with exit code 2, before anything is sent.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

// usageError reports a wrong command line.
func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// invalidValue reports a flag or argument value the server would refuse,
// found before anything is sent; it exits 1 like the server's "invalid".
func invalidValue(format string, args ...any) error {
	return keyledger.Errorf(keyledger.EInvalid, format, args...)
}

func runClient(ctx context.Context, sc subcommand, args []string, stdout, stderr io.Writer) int {
	c := &client{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("keyledger "+sc.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below, help on stdout
	fs.Usage = func() {}
	run := sc.flags(fs)
	fs.StringVar(&c.server, "server", envOr("KEYLEDGER_SERVER", "nats://127.0.0.1:4222"), "NATS URL of a keyledger server")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding your API key (default: $KEYLEDGER_TOKEN, else ./keyledger-data/admin.token)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "how long to wait for an answer")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, sc)
		return exitOK
	} else if err != nil {
		return usageFail(stderr, sc.name, err.Error(), args)
	}
	c.serverGiven = flagSet(fs, "server") || os.Getenv("KEYLEDGER_SERVER") != ""
	// Run where serve keeps keyledger-data/, the server is the one that
	// runs there (on the URL it wrote), not whatever answers on the
	// default port: that may be someone else's, and would get the token.
	// A subcommand told the server's data directory (--data DIR) talks to
	// the server running on DIR the same way, and so does a token read from
	// a data directory (--token-file DIR/admin.token).
	dataDir := filepath.Dir(defaultTokenFile)
	if f := fs.Lookup("data"); f != nil && flagSet(fs, "data") {
		dataDir = f.Value.String()
	} else if _, err := os.Stat(filepath.Join(filepath.Dir(c.tokenFile), natsURLFile)); c.tokenFile != "" && err == nil {
		dataDir = filepath.Dir(c.tokenFile)
	} else if f != nil {
		dataDir = f.Value.String()
	}
	if u, err := os.ReadFile(filepath.Join(dataDir, natsURLFile)); err == nil && !c.serverGiven &&
		strings.TrimSpace(string(u)) != "" {
		c.server = strings.TrimSpace(string(u))
	}
	if c.timeout <= 0 {
		fmt.Fprintf(stderr, "error: %s: --timeout must be positive, not %s\n", keyledger.EInvalid, c.timeout)
		return exitError
	}
	defer c.close()
	err = run(ctx, c, pos)
	var ue *usageErr
	var e *keyledger.Error
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errReported):
		return exitError
	case errors.As(err, &ue):
		return usageFail(stderr, sc.name, ue.msg, args)
	case errors.As(err, &e):
		fmt.Fprintf(stderr, "error: %s: %s\n", e.Code, e.Message)
	default:
		fmt.Fprintln(stderr, "keyledger:", err)
	}
	return exitError
}

// errReported is a command's failure that it has already told on stderr.
var errReported = errors.New("failure already reported")

// parseInterspersed parses flags that may stand before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultTokenFile is where `keyledger serve` run in the same directory
// writes the first admin's token.
const defaultTokenFile = "keyledger-data/admin.token"

// loadToken finds the caller's API key: --token-file, else $KEYLEDGER_TOKEN,
// else ./keyledger-data/admin.token. Without one it says where it looked,
// before anything connects; it never prints what it found.
func (c *client) loadToken() error {
	if c.token != "" {
		return nil
	}
	var source string
	switch {
	case c.tokenFile != "":
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return keyledger.Errorf(keyledger.EUnauthenticated, "--token-file: %v", err)
		}
		c.token, source = strings.TrimSpace(string(b)), c.tokenFile
	case os.Getenv("KEYLEDGER_TOKEN") != "":
		c.token, source = strings.TrimSpace(os.Getenv("KEYLEDGER_TOKEN")), "$KEYLEDGER_TOKEN"
	default:
		b, err := os.ReadFile(defaultTokenFile)
		if err != nil {
			where := defaultTokenFile
			if abs, aerr := filepath.Abs(defaultTokenFile); aerr == nil {
				where = abs
			}
			return keyledger.Errorf(keyledger.EUnauthenticated,
				"no API key to act with. Looked for $KEYLEDGER_TOKEN (not set), --token-file FILE (not given) and ./%s (no %s). "+
					"Pass --token-file DATA_DIR/admin.token, set KEYLEDGER_TOKEN, or run this where `keyledger serve` keeps keyledger-data/",
				defaultTokenFile, where)
		}
		c.token, source = strings.TrimSpace(string(b)), "./"+defaultTokenFile
	}
	if _, _, ok := keyledger.ParseToken(c.token); !ok && !natsauth.IsGatewayCredential(c.token) {
		shaped := len(c.token) == keyledger.TokenLen && strings.HasPrefix(c.token, "kl_")
		c.token = ""
		if shaped {
			return keyledger.Errorf(keyledger.EUnauthenticated, "%s holds a token whose checksum (its last 6 characters) does not match: a character was changed or mistyped; copy it again as `key issue` printed it", source)
		}
		return keyledger.Errorf(keyledger.EUnauthenticated, "%s does not hold a keyledger token (kl_ and %d characters in all, as `key issue` prints it)", source, keyledger.TokenLen)
	}
	return nil
}

// conn connects on first use, so that a wrong command line or a missing
// token is reported without touching the network.
func (c *client) conn() (*nats.Conn, error) {
	if c.nc != nil {
		return c.nc, nil
	}
	nc, err := nats.Connect(c.server, connectOptions(c.token)...)
	if errors.Is(err, nats.ErrAuthorization) {
		code, why := c.whyRefused()
		return nil, keyledger.Errorf(code, "the server at %s refused the key: %s", c.server, why)
	} else if errors.Is(err, nats.ErrNoServers) {
		return nil, keyledger.Errorf(keyledger.EUnavailable, "no keyledger server answers at %s: is `keyledger serve` running there? (the server comes from --server, $KEYLEDGER_SERVER or keyledger-data/nats.url)", c.server)
	} else if err != nil {
		return nil, fmt.Errorf("connect %s: %w", c.server, err)
	}
	c.nc = nc
	c.watchDenied()
	return nc, nil
}

// whyRefused asks the server, with no key (as anyone may), to verify the
// token the connection was refused with, and says what that tells: the key
// was revoked or has expired, or this server does not know it (another
// server? --server). It tells nothing the token's holder could not learn
// from keyledger.verify themselves.
func (c *client) whyRefused() (code, why string) {
	const unknown = "not a valid API key"
	if natsauth.IsGatewayCredential(c.token) {
		return keyledger.EUnauthenticated, "not a gateway credential this server knows"
	}
	nc, err := nats.Connect(c.server, connectOptions("")...)
	if err != nil {
		return keyledger.EUnauthenticated, unknown
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var res struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if err := kclient.New(nc).Call(ctx, "verify", "", "", map[string]string{"key": c.token}, &res); err != nil {
		return keyledger.EUnauthenticated, unknown
	}
	switch res.Code {
	case "revoked":
		return keyledger.EUnauthenticated, "the key was revoked; an admin may regenerate it (its owner too, if the owner revoked it)"
	case "expired":
		return keyledger.EUnauthenticated, "the key has expired"
	case "not_found":
		return keyledger.EUnauthenticated, "this server holds no key with this ID and secret: a wrong or old secret (was the key regenerated?), a deleted key, or another server's key (--server, or the URL in DATA/nats.url)"
	case "forbidden_ip":
		return keyledger.EForbidden, "the key has allowed_cidrs, and this connection comes from outside them"
	}
	if res.Valid {
		return keyledger.EUnauthenticated, fmt.Sprintf("the key verifies, but the server refused the connection: its owner may be deactivated, or the key already holds %d open NATS connections", natsauth.MaxConnsPerKey)
	}
	return keyledger.EUnauthenticated, unknown
}

// connectOptions are how the CLI connects: its key is its NATS token, and
// replies come to the key's private inbox (see natsauth). Without a key
// (watch), the connection may only receive notifications.
func connectOptions(token string) []nats.Option {
	return append(natsauth.ConnectOptions(token), nats.Name("keyledger-cli"))
}

func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

// call sends one request and decodes the reply into out. The request carries
// one Idempotency-Key through its retries, so a reply lost on the way back
// does not apply a command twice.
func (c *client) call(ctx context.Context, name string, body, out any) error {
	if err := c.loadToken(); err != nil {
		return err
	}
	nc, err := c.conn()
	if err != nil {
		return err
	}
	kc := kclient.New(nc)
	kc.Timeout, kc.Attempts = c.timeout, 5
	var raw json.RawMessage
	ctx, stop := c.deniedContext(ctx, "keyledger."+name)
	defer stop()
	err = kc.Call(ctx, name, c.token, ulid.Make().String(), body, &raw)
	if derr := deniedError(ctx, name, c.token); derr != nil {
		return derr
	}
	if errors.Is(err, kclient.ErrNoServer) {
		return fmt.Errorf("no keyledger server answers on %s", c.server)
	} else if err != nil {
		return err
	}
	if c.json {
		_, err := c.stdout.Write(append(raw, '\n'))
		return err
	}
	return json.Unmarshal(raw, out)
}
