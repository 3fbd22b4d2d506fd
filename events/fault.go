package events

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrUnwritable means the stream's server reported that it can no longer
// store the stream's messages (a write to its files failed: a full disk,
// no open files left). nats-server then stops answering appends to that
// stream until it restarts; the store refuses them at once instead of
// letting every caller wait for a timeout.
var ErrUnwritable = errors.New("events: the stream cannot store events")

// fault is a store's unwritable state: the error, read without a lock by
// every append, and a channel closed when it is set, so that a write
// already waiting for an answer that will not come stops waiting.
type fault struct {
	err atomic.Pointer[error]
	mu  sync.Mutex    // guards set, and orders SetFault calls
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
	was := f.err.Load() != nil
	switch {
	case cause == nil && was:
		f.err.Store(nil)
		f.set = make(chan struct{})
	case cause != nil:
		err := fmt.Errorf("%w: %w", ErrUnwritable, cause)
		f.err.Store(&err)
		if !was {
			close(f.set)
		}
	}
}

// Fault is the error appends fail with while the stream cannot be written,
// wrapping ErrUnwritable and the server's report; nil when it can.
func (s *Store) Fault() error {
	if p := s.fault.err.Load(); p != nil {
		return *p
	}
	return nil
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
