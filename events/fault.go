package events

import (
	"context"
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

// ErrUnanswered means a write was already sent when the stream was found
// unwritable, and the server never answered it: whether it was stored is
// known only once the server restarts. It wraps ErrUnwritable.
var ErrUnanswered = fmt.Errorf("%w; a write sent before that was known went unanswered, so whether it was stored is not known", ErrUnwritable)

// fault is a store's unwritable state: the error, read without a lock by
// every append, and a context cancelled when it is set, so that a write
// already waiting for an answer that will not come stops waiting.
type fault struct {
	err    atomic.Pointer[error]
	mu     sync.Mutex      // guards ctx and cancel, and orders SetFault calls
	ctx    context.Context // cancelled while err is set
	cancel context.CancelFunc
}

// SetFault records that the stream cannot be written, and why (nil: it can
// again). Whoever watches the server's health calls it.
func (s *Store) SetFault(cause error) {
	f := &s.fault
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	was := f.err.Load() != nil
	switch {
	case cause == nil && was:
		f.err.Store(nil)
		f.ctx, f.cancel = context.WithCancel(context.Background())
	case cause != nil:
		err := fmt.Errorf("%w: %w", ErrUnwritable, cause)
		f.err.Store(&err)
		f.cancel()
	}
}

// init makes the context of a store that was never marked; f.mu is held.
func (f *fault) init() {
	if f.ctx == nil {
		f.ctx, f.cancel = context.WithCancel(context.Background())
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

// untilFault returns ctx, cancelled too once the stream is found
// unwritable (its cause then ErrUnanswered, with the server's report), and
// the function that releases it. Every write waits for the server's answer
// under it. The fault's context is a plain cancel context, so a write
// starts no goroutine while the stream is writable.
func (s *Store) untilFault(ctx context.Context) (context.Context, func()) {
	f := &s.fault
	f.mu.Lock()
	f.init()
	faulted := f.ctx
	f.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(faulted, func() { cancel(fmt.Errorf("%w (%v)", ErrUnanswered, s.Fault())) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// unanswered returns ErrUnanswered if the write failed because ctx (from
// untilFault) was cancelled when the stream was found unwritable, else
// err: an answer that came (a conflict, a duplicate) is kept.
func unanswered(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(err, context.Canceled) && errors.Is(cause, ErrUnanswered) {
		return cause
	}
	return err
}
