package events

import (
	"errors"
	"fmt"
	"sync"
)

// ErrUnwritable means the stream's server reported that it can no longer
// store the stream's messages (a write to its files failed: a full disk,
// no open files left). nats-server then stops answering appends to that
// stream until it restarts; the store refuses them at once instead of
// letting every caller wait for a timeout.
var ErrUnwritable = errors.New("events: the stream cannot store events")

// fault is a store's unwritable state: the error, and a channel closed
// when it is set, so that a write already waiting for an answer that will
// not come stops waiting.
type fault struct {
	mu  sync.Mutex
	err error
	set chan struct{} // closed while err is set
}

// SetFault records that the stream cannot be written, and why (nil: it can
// again). Whoever watches the server's health calls it.
func (s *Store) SetFault(cause error) {
	f := &s.fault
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = make(chan struct{})
	}
	switch {
	case cause == nil && f.err != nil:
		f.err, f.set = nil, make(chan struct{})
	case cause != nil:
		if f.err == nil {
			close(f.set)
		}
		f.err = fmt.Errorf("%w: %w", ErrUnwritable, cause)
	}
}

// Fault is the error appends fail with while the stream cannot be written,
// wrapping ErrUnwritable and the server's report; nil when it can.
func (s *Store) Fault() error {
	s.fault.mu.Lock()
	defer s.fault.mu.Unlock()
	return s.fault.err
}

// faulted is closed once the stream is found unwritable.
func (s *Store) faulted() <-chan struct{} {
	f := &s.fault
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = make(chan struct{})
	}
	return f.set
}
