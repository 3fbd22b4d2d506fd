package events

import (
	"errors"
	"fmt"
)

// ErrUnwritable means the stream's server reported that it can no longer
// store the stream's messages (a write to its files failed: a full disk,
// no open files left). nats-server then stops answering appends to that
// stream until it restarts; the store refuses them at once instead of
// letting every caller wait for a timeout.
var ErrUnwritable = errors.New("events: the stream cannot store events")

// SetFault records that the stream cannot be written, and why (nil: it can
// again). Whoever watches the server's health calls it.
func (s *Store) SetFault(cause error) {
	if cause == nil {
		s.fault.Store(nil)
		return
	}
	err := fmt.Errorf("%w: %w", ErrUnwritable, cause)
	s.fault.Store(&err)
}

// Fault is the error appends fail with while the stream cannot be written,
// wrapping ErrUnwritable and the server's report; nil when it can.
func (s *Store) Fault() error {
	if p := s.fault.Load(); p != nil {
		return *p
	}
	return nil
}
