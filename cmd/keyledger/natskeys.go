package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nkeys"
)

// natsKeys is `keyledger nats-keys --out DIR`: the keys a NATS cluster and
// keyledger share (deploy/nats). It writes keyledger's user seed
// (keyledger.nk) and the callout issuer's seed (callout.nk), mode 0600, and
// nats.env, the two public keys as the environment variables that
// accounts.conf reads.
// Keys that exist are kept, so it can run at every start.
func natsKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "nats-keys", "directory for keyledger.nk, callout.nk and nats.env")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	if err := writeNATSKeys(*out); err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	fmt.Fprintf(stdout, "NATS keys in %s: keyledger.nk and callout.nk (secret, for keyledger), nats.env (for the NATS servers)\n", *out)
	return 0
}

func writeNATSKeys(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	svc, err := seedFile(filepath.Join(dir, "keyledger.nk"), nkeys.CreateUser)
	if err != nil {
		return err
	}
	issuer, err := seedFile(filepath.Join(dir, "callout.nk"), nkeys.CreateAccount)
	if err != nil {
		return err
	}
	svcPub, _ := svc.PublicKey()
	issuerPub, _ := issuer.PublicKey()
	env := fmt.Sprintf("# Written by keyledger nats-keys: public keys only.\nKEYLEDGER_SERVICE_NKEY=%s\nKEYLEDGER_CALLOUT_ISSUER=%s\n", svcPub, issuerPub)
	return os.WriteFile(filepath.Join(dir, "nats.env"), []byte(env), 0o644)
}

// seedFile reads the seed at path, or creates one there.
func seedFile(path string, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, error) {
	kp, err := natsauth.ReadSeed(path)
	if !errors.Is(err, os.ErrNotExist) {
		return kp, err
	}
	if kp, err = create(); err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return kp, natsauth.WriteSecret(path, seed)
}

// gatewayCredentials is `keyledger gateway-credentials --name NAME`: a
// read-only credential for a gateway (the KEYLEDGER stream and the
// notifications, nothing else). It runs beside the server, on its data
// directory, and writes the credential to a file (mode 0600), never to
// the terminal. With --from FILE it records a credential another
// instance made instead; with --withdraw NAME it withdraws one.
func gatewayCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway-credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "keyledger-data", "the server's data `DIR`")
	name := fs.String("name", "", "the gateway's `NAME`: 1-32 of a-z, 0-9 and -")
	out := fs.String("out", "", "`FILE` to write the credential to (default: DATA/gateway-NAME.token)")
	from := fs.String("from", "", "instead of making a credential, let this instance accept the one in `FILE`, "+
		"made by another instance (every instance that answers the callout needs each gateway's credential)")
	withdraw := fs.String("withdraw", "", "withdraw the credential of gateway `NAME`: its next connection is refused, "+
		"and a running server closes the open ones within about a second (do it on every instance)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: keyledger gateway-credentials --name NAME [--data DIR] [--out FILE]
       keyledger gateway-credentials --from FILE [--data DIR]
       keyledger gateway-credentials --withdraw NAME [--data DIR]

Make, add or withdraw a gateway's read-only NATS credential (the event
stream and the notifications). Runs on the server's data directory.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  keyledger gateway-credentials --name edge-1
  keyledger gateway-credentials --data B --from edge-1.token
  keyledger gateway-credentials --withdraw edge-1
`)
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	var err error
	switch given := btoi(*name != "" && *from == "") + btoi(*from != "") + btoi(*withdraw != ""); {
	case fs.NArg() > 0:
		return usageFail(stderr, "gateway-credentials", fmt.Sprintf("takes flags only, not %q", fs.Arg(0)), args)
	case given == 0:
		return usageFail(stderr, "gateway-credentials", "give --name NAME, --from FILE or --withdraw NAME", args)
	case given > 1:
		return usageFail(stderr, "gateway-credentials", "give one of --name, --from and --withdraw", args)
	case *from != "":
		err = addGatewayCredential(*data, *from, *name, stdout)
	case *withdraw != "":
		err = withdrawGatewayCredential(*data, *withdraw, stdout)
	default:
		err = newGatewayCredential(*data, *name, *out, stdout)
	}
	var e *keyledger.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
		fmt.Fprintf(stderr, "error: %s: %s\n", e.Code, e.Message)
	default:
		fmt.Fprintln(stderr, "error:", err)
	}
	return exitError
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newGatewayCredential is gateway-credentials --name.
func newGatewayCredential(data, name, out string, stdout io.Writer) error {
	if out == "" {
		out = filepath.Join(data, "gateway-"+name+".token")
	}
	if _, err := os.Stat(data); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if _, err := os.Stat(out); err == nil {
		return keyledger.Errorf(keyledger.EConflict, "%s exists; remove it first, or give --out FILE", out)
	}
	token, err := natsauth.NewGatewayCredential(data, name)
	if err == nil {
		err = natsauth.WriteSecret(out, []byte(token))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gateway credential %q written to %s\n", name, out)
	return nil
}

// addGatewayCredential is gateway-credentials --from: it records the
// credential in FILE, made by another instance, in this one's data.
func addGatewayCredential(data, file, name string, stdout io.Writer) error {
	if _, err := os.Stat(data); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if got, ok := natsauth.GatewayCredentialName(string(b)); ok && name != "" && got != name {
		return keyledger.Errorf(keyledger.EInvalid, "--from %s holds the credential of gateway %q, not %q", file, got, name)
	}
	got, err := natsauth.AddGatewayCredential(data, string(b))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gateway credential %q from %s added to %s\n", got, file, data)
	return nil
}

// withdrawGatewayCredential is gateway-credentials --withdraw. The token
// file --name wrote by default, DATA/gateway-NAME.token, holds the
// withdrawn secret: it is removed, so that --name can make a new one.
func withdrawGatewayCredential(data, name string, stdout io.Writer) error {
	if _, err := os.Stat(data); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	changed, err := natsauth.WithdrawGatewayCredential(data, name)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(data, "gateway-"+name+".token")
	if b, err := os.ReadFile(tokenFile); err == nil {
		if got, ok := natsauth.GatewayCredentialName(string(b)); ok && got == name && os.Remove(tokenFile) == nil {
			fmt.Fprintf(stdout, "removed %s, which held the withdrawn credential\n", tokenFile)
		}
	}
	if !changed {
		fmt.Fprintf(stdout, "gateway credential %q was already withdrawn in %s\n", name, data)
		return nil
	}
	fmt.Fprintf(stdout, "gateway credential %q withdrawn in %s: a running server closes its connections within about a second; withdraw it on every other instance too\n", name, data)
	return nil
}
