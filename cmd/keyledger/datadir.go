package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Files in the data directory that tell other processes on the host about
// the server using it.
const (
	lockFile    = "serve.lock" // held (flock) by the running serve
	natsURLFile = "nats.url"   // the NATS URL the running serve uses
)

// errDirInUse means another process holds the data directory.
var errDirInUse = errors.New("in use by another keyledger process")

// lockDataDir takes the data directory for this process: two processes
// writing one embedded JetStream store would corrupt it. The lock ends with
// the process, however it ends.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s: %w", dir, errDirInUse)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// recoveryConn connects a break-glass tool to the ledger in dir: to the NATS
// server of the running serve, or, when serve is stopped, to an embedded
// server started on dir/nats for the time of the call (stop undoes it, and
// releases the directory). This is the one place that knows how; NATS
// credentials in the data directory belong here too.
func recoveryConn(dir string) (nc *nats.Conn, stop func(), err error) {
	lock, err := lockDataDir(dir)
	if errors.Is(err, errDirInUse) {
		url, rerr := os.ReadFile(filepath.Join(dir, natsURLFile))
		if rerr != nil {
			return nil, nil, fmt.Errorf("serve is running on %s but did not say where: %w", dir, rerr)
		}
		opts := []nats.Option{nats.Name("keyledger-recover")}
		// As keyledger itself: the embedded server's key is in dir. (A
		// serve on --nats URL keeps its key elsewhere; then none is sent.)
		if kp, err := natsauth.ReadSeed(filepath.Join(dir, natsauth.ServiceSeedFile)); err == nil {
			opts = append(opts, nkeyOption(&natsauth.Keys{Service: kp}))
		}
		nc, err := nats.Connect(strings.TrimSpace(string(url)), opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to the running serve: %w", err)
		}
		return nc, nc.Close, nil
	} else if err != nil {
		return nil, nil, err
	}
	store := filepath.Join(dir, "nats")
	if _, err := os.Stat(store); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("no embedded NATS store in %s (serve with --nats URL keeps none; run recover while serve runs): %w", dir, err)
	}
	// The same accounts as serve's embedded server: the streams live in
	// the ledger account.
	keys, err := natsauth.LoadOrCreateKeys(dir)
	var opts *server.Options
	if err == nil {
		opts, err = natsauth.ServerOptions(keys)
	}
	if err == nil {
		err = moveGlobalStreams(store)
	}
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	opts.ServerName, opts.DontListen = "keyledger-recover", true
	opts.JetStream, opts.StoreDir, opts.SyncAlways = true, store, true
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		lock.Close()
		return nil, nil, errors.New("embedded nats: not ready after 30s")
	}
	nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("keyledger-recover"), nkeyOption(keys))
	if err != nil {
		ns.Shutdown()
		lock.Close()
		return nil, nil, err
	}
	return nc, func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		lock.Close()
	}, nil
}
