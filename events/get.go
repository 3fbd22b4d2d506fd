package events

import (
	"context"
	"fmt"
)

// Get returns the event stored at seq, read straight from the stream (a
// direct get when the stream allows it): what a reader does with a
// notification, whose headers and body anyone able to publish could forge.
func (s *Store) Get(ctx context.Context, seq uint64) (Recorded, error) {
	msg, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return Recorded{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	ev, err := Decode(msg.Data)
	if err != nil {
		return Recorded{}, fmt.Errorf("seq %d: %w: %w", seq, ErrUndecodable, err)
	}
	return Recorded{Seq: msg.Sequence, Subject: msg.Subject, Event: ev}, nil
}
