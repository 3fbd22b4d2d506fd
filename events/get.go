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
//
// On a replicated stream the replica that answers a direct get may not have
// stored a write acknowledged a moment ago, so a miss there is asked of the
// leader before it counts: a revocation just announced is found at once.
func (s *Store) Get(ctx context.Context, seq uint64) (Recorded, error) {
	msg, err := s.get(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Recorded{}, keyledger.Errorf(keyledger.ENotFound, "no event at seq %d", seq)
	} else if err != nil {
		return Recorded{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	ev, err := Decode(msg.Data)
	if err != nil {
		return Recorded{}, fmt.Errorf("seq %d: %w: %w", seq, ErrUndecodable, err)
	}
	return Recorded{Seq: msg.Seq, Subject: msg.Subject, Event: ev, Data: msg.Data}, nil
}

func (s *Store) get(ctx context.Context, seq uint64) (*storedMsg, error) {
	msg, err := s.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) && s.replicated() {
		return s.leaderGet(ctx, msgGetRequest{Seq: seq})
	} else if err != nil {
		return nil, err
	}
	return &storedMsg{Subject: msg.Subject, Seq: msg.Sequence, Data: msg.Data, Time: msg.Time}, nil
}
