// Command keyledger-bench measures keyledger from the outside: it builds or
// takes the keyledger binary, runs `keyledger serve` as a child process in
// three setups (embedded with sync on every write, embedded with interval
// sync, and against a 3-node R3 cluster it starts in-process), and loads it
// only through public surfaces: NATS requests via the client package, HTTP,
// the JetStream stream with the service's credentials, and the data
// directory. It prints every figure beside its target and its ratio to the
// bare JetStream ceiling measured in the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Bench is one run: its configuration (filled with defaults by NewBench,
// then by ParseFlags) and the report it builds.
type Bench struct {
	Bin         string        // the keyledger binary; built from this module when empty
	Duration    time.Duration // how long each load runs, warm-up excluded
	Warmup      time.Duration // load before each measurement whose samples are dropped
	Clients     int           // concurrent clients of the write loads
	Setups      []string      // which of embedded, interval, r3 to run
	Interval    string        // --nats-sync of the interval setup
	Samples     int           // issues per owner in the 1,000-keys ÷ 1-key figure
	Soak        int           // consecutive commands of the soak (0: none), on an instance of its own
	SoakLimit   time.Duration // the soak stops after this long
	Verify      bool          // the verification figures (index, HTTP, NATS, notifications)
	Keys        int           // keys seeded for the verification figures
	HTTPConns   int           // HTTP keep-alive connections
	NATSConns   int           // concurrent keyledger.verify requests
	Revokes     int           // revocations timed from reply to notification
	Million     bool          // the 1,000,000-key memory figures
	MillionDir  string        // keep (or reuse) the million-key data here
	ServeArgs   []string      // extra flags for every `keyledger serve`, e.g. --pprof
	Out, Errout io.Writer

	bin string // the binary in use
	rep *report
}

// NewBench returns a bench with the defaults of a quick run.
func NewBench() *Bench {
	return &Bench{
		Duration: 10 * time.Second, Warmup: time.Second, Clients: 16,
		Setups: []string{"embedded", "each", "interval", "r3"}, Interval: "1s",
		Samples: 200, Soak: 2000, SoakLimit: 15 * time.Minute,
		Verify: true, Keys: 10000, HTTPConns: 8, NATSConns: 50, Revokes: 200,
		Out: os.Stdout, Errout: os.Stderr,
	}
}

// ParseFlags reads the command line.
func (b *Bench) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("keyledger-bench", flag.ContinueOnError)
	fs.SetOutput(b.Errout)
	setups := strings.Join(b.Setups, ",")
	fs.StringVar(&b.Bin, "bin", b.Bin, "keyledger binary to measure (default: go build ./cmd/keyledger into a temporary directory)")
	fs.DurationVar(&b.Duration, "duration", b.Duration, "how long each load is measured")
	fs.DurationVar(&b.Warmup, "warmup", b.Warmup, "load before each measurement, not counted")
	fs.IntVar(&b.Clients, "clients", b.Clients, "concurrent clients of the write loads")
	fs.StringVar(&setups, "setups", setups, "comma-separated: embedded (the default sync: group commit), each (--nats-sync each), interval (--nats-sync), r3 (3-node cluster)")
	fs.StringVar(&b.Interval, "interval", b.Interval, "--nats-sync of the interval setup")
	fs.IntVar(&b.Samples, "samples", b.Samples, "issues per owner for the 1,000-keys ÷ 1-key p50")
	fs.IntVar(&b.Soak, "soak", b.Soak, "consecutive commands of the soak, on an embedded instance of its own (100000 for the README figure; 0: skip)")
	fs.DurationVar(&b.SoakLimit, "soak-limit", b.SoakLimit, "the soak stops after this long")
	fs.BoolVar(&b.Verify, "verify", b.Verify, "also measure verification: in-process index, HTTP, NATS, revoke → notification")
	fs.IntVar(&b.Keys, "keys", b.Keys, "keys in the index during the verification loads")
	fs.IntVar(&b.HTTPConns, "http-connections", b.HTTPConns, "HTTP keep-alive connections")
	fs.IntVar(&b.NATSConns, "nats-requests", b.NATSConns, "concurrent keyledger.verify requests")
	fs.IntVar(&b.Revokes, "revokes", b.Revokes, "revocations timed from reply to notification")
	fs.BoolVar(&b.Million, "million", b.Million, "also seed 1,000,000 keys over 100,000 owners and measure start-up and memory (minutes)")
	fs.StringVar(&b.MillionDir, "million-dir", b.MillionDir, "with --million: seed into this directory and keep it; reuse it if already seeded")
	fs.Func("serve-arg", "an extra flag for `keyledger serve`, repeatable (e.g. --serve-arg=--pprof=127.0.0.1:6060)", func(v string) error {
		b.ServeArgs = append(b.ServeArgs, v)
		return nil
	})
	bare := fs.String("serve-bare", "", "internal: only serve the bare fixed-JSON HTTP handler on this address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bare != "" {
		return errServeBare(*bare)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	b.Setups = nil
	for _, s := range strings.Split(setups, ",") {
		switch s = strings.TrimSpace(s); s {
		case "embedded", "each", "interval", "r3":
			b.Setups = append(b.Setups, s)
		case "":
		default:
			return fmt.Errorf("--setups: unknown setup %q", s)
		}
	}
	if b.Clients < 1 || b.Duration <= 0 || b.Warmup < 0 || b.Samples < 1 || b.Soak < 0 {
		return fmt.Errorf("--clients, --duration and --samples must be positive, --warmup and --soak not negative")
	}
	return nil
}

// errServeBare asks Run to serve the HTTP baseline instead of benchmarking.
type errServeBare string

func (e errServeBare) Error() string { return "serve bare on " + string(e) }

// Run runs one invocation and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	b := NewBench()
	b.Out, b.Errout = stdout, stderr
	if err := b.ParseFlags(args); err != nil {
		if addr, ok := err.(errServeBare); ok {
			return serveBare(ctx, string(addr))
		}
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "keyledger-bench:", err)
		}
		return 2
	}
	if err := b.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "keyledger-bench:", err)
		return 1
	}
	return 0
}

// Run measures every configured setup and prints the report.
func (b *Bench) Run(ctx context.Context) error {
	b.rep = newReport(b.Out)
	fmt.Fprintf(b.Out, "keyledger-bench on %d CPUs, %s; %d clients, %s per load after %s warm-up\n\n",
		runtime.NumCPU(), runtime.Version(), b.Clients, b.Duration, b.Warmup)
	bin, cleanup, err := b.binary(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	b.bin = bin
	for _, name := range b.Setups {
		if err := b.runSetup(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if b.Soak > 0 {
		if err := b.runSoak(ctx); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}
	if b.Verify {
		if err := b.verification(ctx); err != nil {
			return fmt.Errorf("verification: %w", err)
		}
	}
	if b.Million {
		if err := b.million(ctx); err != nil {
			return fmt.Errorf("million: %w", err)
		}
	}
	b.rep.table()
	return nil
}
