package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go/jetstream"
)

// Get returns the event stored at seq, with its exact bytes, read straight
// from the stream (a direct get when the stream allows it): what a reader
// does with a notification, whose headers and body anyone able to publish
// could forge, and what an audit receipt proves. No event there is not_found.
func (s *Store) Get(ctx context.Context, seq uint64) (Recorded, error) {
	msg, err := s.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Recorded{}, keyledger.Errorf(keyledger.ENotFound, "no event at seq %d", seq)
	} else if err != nil {
		return Recorded{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	ev, err := Decode(msg.Data)
	if err != nil {
		return Recorded{}, fmt.Errorf("seq %d: %w: %w", seq, ErrUndecodable, err)
	}
	return Recorded{Seq: msg.Sequence, Subject: msg.Subject, Event: ev, Data: msg.Data}, nil
}
