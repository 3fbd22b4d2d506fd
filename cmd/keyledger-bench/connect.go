package main

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// connectService opens a NATS connection with the rights of the keyledger
// service whose data directory is dataDir: the bench needs them to publish
// events straight to the stream (seeding), to read stream info (consumer
// counts) and, for the bare ceiling, to create a stream of its own beside
// KEYLEDGER.
//
// Today keyledger's NATS has no accounts, so the URL is enough. When the
// service keeps its own NATS credentials in its data directory, this is
// the one place that reads them.
func connectService(url, dataDir string) (*nats.Conn, error) {
	_ = dataDir
	nc, err := nats.Connect(url, nats.Name("keyledger-bench-service"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect %s as the service: %w", url, err)
	}
	return nc, nil
}

// connectClient opens a NATS connection as an API client would. Today a
// client connection is an anonymous one; once clients present their API key
// as their NATS token, token is passed here.
func connectClient(url, token string) (*nats.Conn, error) {
	_ = token
	nc, err := nats.Connect(url, nats.Name("keyledger-bench-client"))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	return nc, nil
}
