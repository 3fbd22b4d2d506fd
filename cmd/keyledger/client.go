package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
)

// client is what every client subcommand shares: the connection, the token,
// and how to print.
type client struct {
	server    string
	tokenFile string
	json      bool
	timeout   time.Duration
	stdout    io.Writer
	nc        *nats.Conn
	token     string
	denied    chan string // subjects NATS refused (see watchDenied)
}

// runFunc does a client subcommand's work with its positional arguments.
type runFunc func(ctx context.Context, c *client, args []string) error

// clientCommand declares a subcommand's own flags on fs and returns what runs
// once they are parsed.
type clientCommand func(fs *flag.FlagSet) runFunc

var clientCommands = map[string]clientCommand{
	"key issue":       keyIssue,
	"key list":        keyList,
	"key show":        keyShow,
	"key update":      keyUpdate,
	"key revoke":      keyRevoke,
	"key regenerate":  keyRegenerate,
	"key delete":      keyDelete,
	"user add":        userAdd,
	"user list":       userList,
	"user roles":      userRoles,
	"user deactivate": userDeactivate,
	"settings show":   settingsShow,
	"settings set":    settingsSet,
}

// singleWord are client commands without a second word.
var singleWord = map[string]clientCommand{"watch": watch}

func runClient(ctx context.Context, cmd clientCommand, args []string, stdout, stderr io.Writer) int {
	c := &client{stdout: stdout}
	fs := flag.NewFlagSet("keyledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.server, "server", envOr("KEYLEDGER_SERVER", "nats://127.0.0.1:4222"), "NATS URL of a keyledger server")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding your API key (default: $KEYLEDGER_TOKEN, else keyledger-data/admin.token)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "how long to wait for an answer")
	run := cmd(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	err = c.open()
	if err == nil {
		defer c.nc.Close()
		err = run(ctx, c, pos)
	}
	if err != nil {
		var e *keyledger.Error
		if errors.As(err, &e) {
			fmt.Fprintf(stderr, "error: %s: %s\n", e.Code, e.Message)
		} else {
			fmt.Fprintln(stderr, "keyledger:", err)
		}
		return 1
	}
	return 0
}

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

func (c *client) open() error {
	switch {
	case c.tokenFile != "":
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	case os.Getenv("KEYLEDGER_TOKEN") != "":
		c.token = strings.TrimSpace(os.Getenv("KEYLEDGER_TOKEN"))
	default:
		if b, err := os.ReadFile("keyledger-data/admin.token"); err == nil {
			c.token = strings.TrimSpace(string(b))
		}
	}
	nc, err := nats.Connect(c.server, connectOptions(c.token)...)
	if errors.Is(err, nats.ErrAuthorization) {
		return keyledger.Errorf(keyledger.EUnauthenticated, "the server at %s refused the key: not a valid API key", c.server)
	} else if err != nil {
		return fmt.Errorf("connect %s: %w", c.server, err)
	}
	c.nc = nc
	c.watchDenied()
	return nil
}

// connectOptions are how the CLI connects: its key is its NATS token, and
// replies come to the key's private inbox (see natsauth).
func connectOptions(token string) []nats.Option {
	return append(natsauth.ConnectOptions(token), nats.Name("keyledger-cli"))
}

// call sends one request and decodes the reply into out. The request carries
// one Idempotency-Key through its retries, so a reply lost on the way back
// does not apply a command twice.
func (c *client) call(ctx context.Context, name string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	msg := nats.NewMsg("keyledger." + name)
	msg.Data = data
	msg.Header.Set(commands.HeaderAuthorization, "Bearer "+c.token)
	msg.Header.Set(commands.HeaderIdempotencyKey, ulid.Make().String())
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, stop := c.deniedContext(ctx, msg.Subject)
	defer stop()
	var reply *nats.Msg
	for attempt := 0; ; attempt++ {
		reply, err = c.nc.RequestMsgWithContext(ctx, msg)
		if err == nil || (!errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout)) || attempt == 4 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err := deniedError(ctx, name); err != nil {
		return err
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("no keyledger server answers on %s", c.server)
	} else if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if reply.Header.Get("Nats-Service-Error-Code") != "" {
		var e struct {
			Error keyledger.Error `json:"error"`
		}
		if json.Unmarshal(reply.Data, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("%s: %s", name, reply.Header.Get("Nats-Service-Error"))
		}
		return &e.Error
	}
	if c.json {
		_, err := c.stdout.Write(append(reply.Data, '\n'))
		return err
	}
	return json.Unmarshal(reply.Data, out)
}
