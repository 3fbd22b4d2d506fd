package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
// instance made instead.
func gatewayCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway-credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "keyledger-data", "the server's data directory")
	name := fs.String("name", "", "the gateway's name: 1-32 of a-z, 0-9 and -")
	out := fs.String("out", "", "file to write the credential to (default: DATA/gateway-NAME.token)")
	from := fs.String("from", "", "instead of making a credential, let this instance accept the one in `FILE`, "+
		"made by another instance: every instance that answers the callout needs each gateway's")
	withdraw := fs.String("withdraw", "", "withdraw the credential of gateway `NAME`: its next connection is refused, "+
		"and a running server closes the open ones within about a second (do it on every instance)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	if *from != "" {
		return addGatewayCredential(*data, *from, *name, stdout, stderr)
	}
	if *withdraw != "" {
		return withdrawGatewayCredential(*data, *withdraw, stdout, stderr)
	}
	if *out == "" {
		*out = filepath.Join(*data, "gateway-"+*name+".token")
	}
	if _, err := os.Stat(*data); err != nil {
		fmt.Fprintln(stderr, "keyledger: --data:", err)
		return 1
	}
	if _, err := os.Stat(*out); err == nil {
		fmt.Fprintf(stderr, "keyledger: %s exists; remove it first\n", *out)
		return 1
	}
	token, err := natsauth.NewGatewayCredential(*data, *name)
	if err == nil {
		err = natsauth.WriteSecret(*out, []byte(token))
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	fmt.Fprintf(stdout, "gateway credential %q written to %s\n", *name, *out)
	return 0
}

// addGatewayCredential is gateway-credentials --from: it records the
// credential in FILE, made by another instance, in this one's data.
func addGatewayCredential(data, file, name string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(data); err != nil {
		fmt.Fprintln(stderr, "keyledger: --data:", err)
		return 1
	}
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "keyledger: --from:", err)
		return 1
	}
	if got, ok := natsauth.GatewayCredentialName(string(b)); ok && name != "" && got != name {
		fmt.Fprintf(stderr, "keyledger: --from %s holds the credential of gateway %q, not %q\n", file, got, name)
		return 1
	}
	got, err := natsauth.AddGatewayCredential(data, string(b))
	if err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	fmt.Fprintf(stdout, "gateway credential %q from %s added to %s\n", got, file, data)
	return 0
}

// withdrawGatewayCredential is gateway-credentials --withdraw.
func withdrawGatewayCredential(data, name string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(data); err != nil {
		fmt.Fprintln(stderr, "keyledger: --data:", err)
		return 1
	}
	changed, err := natsauth.WithdrawGatewayCredential(data, name)
	if err != nil {
		fmt.Fprintln(stderr, "keyledger:", err)
		return 1
	}
	if !changed {
		fmt.Fprintf(stdout, "gateway credential %q was already withdrawn in %s\n", name, data)
		return 0
	}
	fmt.Fprintf(stdout, "gateway credential %q withdrawn in %s: a running server closes its connections within about a second; withdraw it on every other instance too\n", name, data)
	return 0
}
