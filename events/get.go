package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger"
	"github.com/nats-io/nats.go/jetstream"
)

// Get returns the event stored at seq, with its exact bytes (one direct get).
func (s *Store) Get(ctx context.Context, seq uint64) (Recorded, error) {
	msg, err := s.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Recorded{}, keyledger.Errorf(keyledger.ENotFound, "no event at seq %d", seq)
	} else if err != nil {
		return Recorded{}, fmt.Errorf("read seq %d: %w", seq, err)
	}
	ev, err := Decode(msg.Data)
	if err != nil {
		return Recorded{}, fmt.Errorf("seq %d: %w", seq, err)
	}
	return Recorded{Seq: msg.Sequence, Subject: msg.Subject, Event: ev, Data: msg.Data}, nil
}
