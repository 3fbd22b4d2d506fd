package events

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// ErrUndecodable marks a stored event this build cannot read (an unknown
// type, a newer schema, a broken body): following again cannot get past it.
var ErrUndecodable = errors.New("events: a stored event cannot be decoded")

// Follower delivers stored events in order from a sequence on, until ctx
// ends or fn fails.
type Follower interface {
	Follow(ctx context.Context, from uint64, fn func([]Recorded) error) error
}

// FollowRetrying keeps following src, each time from next(), for readers
// that must stay current (the projector, gateways). Losing the stream is
// logged and retried, backing off from 100 ms to 5 s; it returns nil once
// ctx ends, or the error for which permanent reports true: a failure that
// following again cannot fix.
func FollowRetrying(ctx context.Context, src Follower, next func() uint64, fn func([]Recorded) error,
	permanent func(error) bool, log *slog.Logger) error {
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := src.Follow(ctx, next(), fn)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && permanent(err):
			return err
		}
		log.Warn("following the event stream failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}
