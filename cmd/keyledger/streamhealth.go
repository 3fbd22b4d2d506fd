package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats-server/v2/server"
)

// watchStreams asks the embedded server, every interval, whether it can
// still write each stream. When a write to a stream's files fails (a full
// disk, no open files left), nats-server stops answering appends to that
// stream, without an error, until it restarts: every command would wait
// for its timeout, and every minute's usage would be lost with only
// "context deadline exceeded" to show for it. Marking the store makes its
// appends fail at once with events.ErrUnwritable, and /readyz and the log
// say which stream and why. With --nats the servers are the operator's:
// a replicated stream moves to another server by itself.
func (m *Main) watchStreams(ctx context.Context, every time.Duration, stores ...*events.Store) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		faults := map[string]string{}
		health := m.ns.Healthz(&server.HealthzOptions{Account: natsauth.LedgerAccount, Details: true})
		for _, e := range health.Errors {
			if e.Type == server.HealthzErrorStream && e.Stream != "" {
				faults[e.Stream] = e.Error
			}
		}
		for _, s := range stores {
			cause, bad := faults[s.Stream]
			switch was := s.Fault(); {
			case bad && was == nil:
				s.SetFault(errors.New(cause))
				effect := "commands that store events fail with unavailable until keyledger is restarted; " +
					"verification goes on from memory"
				if s.Subjects == events.SubjectUsage {
					effect = "usage (last use, the audit trail's counts) is not recorded until keyledger is restarted; " +
						"commands and verification go on"
				}
				m.Logger.Error("the event store cannot write this stream: "+effect+". Free disk space or open files, then restart",
					"stream", s.Stream, "err", cause)
			case !bad && was != nil:
				s.SetFault(nil)
				m.Logger.Info("the event store can write this stream again", "stream", s.Stream)
			}
		}
	}
}

// streamFaults reports the first stream the store cannot write, for
// /readyz.
func streamFaults(stores ...*events.Store) error {
	for _, s := range stores {
		if s != nil && s.Fault() != nil {
			return fmt.Errorf("stream %s cannot store events (a write to its files failed; the log says why): "+
				"restart keyledger once the cause is fixed", s.Stream)
		}
	}
	return nil
}
