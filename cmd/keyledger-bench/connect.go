package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
)

// connectService opens a NATS connection with the rights of the keyledger
// service whose data directory is dataDir: the bench needs them to publish
// events straight to the stream (seeding), to read stream info (consumer
// counts) and, for the bare ceiling, to create a stream of its own beside
// KEYLEDGER. An embedded server's service key is in its data directory; a
// cluster the bench starts has no accounts, so the URL is enough there.
func connectService(url, dataDir string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name("keyledger-bench-service"), nats.MaxReconnects(-1)}
	if opt, err := serviceKey(dataDir); err != nil {
		return nil, err
	} else if opt != nil {
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s as the service: %w", url, err)
	}
	return nc, nil
}

// serviceKey is the nkey option of the service user kept in dataDir, or
// nil if there is none.
func serviceKey(dataDir string) (nats.Option, error) {
	kp, err := natsauth.ReadSeed(filepath.Join(dataDir, natsauth.ServiceSeedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign), nil
}

// connectClient opens a NATS connection as an API client would: with its
// API key as the NATS token and the key's private inbox, or keyless
// (verification only) when token is empty.
func connectClient(url, token string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(natsauth.ConnectOptions(token), nats.Name("keyledger-bench-client"))...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return nc, nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
