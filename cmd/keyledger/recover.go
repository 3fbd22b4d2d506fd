package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/nats.go/jetstream"
)

// adminRecover is `keyledger admin recover --data DIR`: break-glass access
// for whoever holds the data directory on the server's host. It registers a
// fresh admin user and writes their new key's token to DIR/admin.token
// (0600), whether serve is running or stopped.
func adminRecover(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "keyledger-data", "the server's data directory")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "admin recover: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	r, path, err := recoverAdmin(ctx, *dir, time.Now)
	if err != nil {
		fmt.Fprintln(stderr, "keyledger: admin recover:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "registered admin user %s (%s) with key %s, valid until %s\nadmin token written to %s\n",
		r.UserName, r.UserID, r.KeyID, r.ExpiresAt.Format(time.RFC3339), path)
	return exitOK
}

// recoverAdmin stores the recovery events, made at now(), in the ledger of
// dir and returns what it stored and where the token is.
func recoverAdmin(ctx context.Context, dir string, now func() time.Time) (commands.Recovered, string, error) {
	nc, stop, err := recoveryConn(dir)
	if err != nil {
		return commands.Recovered{}, "", err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return commands.Recovered{}, "", err
	}
	store := events.NewStore(js)
	if err := store.Bind(ctx); err != nil {
		return commands.Recovered{}, "", err
	}
	svc := commands.NewService(store, nil, nil)
	svc.Now = now
	path := filepath.Join(dir, "admin.token")
	staged := path + ".recover"
	r, err := svc.Recover(ctx, func(token string) error {
		return os.WriteFile(staged, []byte(token+"\n"), 0o600)
	})
	if err != nil {
		os.Remove(staged)
		return r, "", err
	}
	return r, path, os.Rename(staged, path)
}
