package commands

import (
	"context"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// SkipEvent tells every projection to pass over the stored event at Seq,
// which it halted on. The request is itself stored, as an EventSkipped.
type SkipEvent struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

// SkipResult is the reply to SkipEvent: the sequence passed over, where the
// EventSkipped that says so is stored, and, if the projections stopped
// again at a later event, why.
type SkipResult struct {
	Seq         uint64 `json:"seq"`
	RecordedSeq uint64 `json:"recorded_seq"`
	HaltedAgain string `json:"halted_again,omitempty"`
}

// DecideSkip allows an admin to skip exactly the event the projections are
// halted at (halted; 0 when they run), for a stated reason.
func DecideSkip(a Actor, c SkipEvent, halted uint64, now time.Time) ([]events.Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if c.Seq == 0 {
		return nil, keyledger.Errorf(keyledger.EInvalid, "seq is required")
	}
	if err := checkText("reason", c.Reason, 1, MaxReasonLen); err != nil {
		return nil, err
	}
	if halted == 0 {
		return nil, keyledger.Errorf(keyledger.EConflict, "projections are not halted; there is nothing to skip")
	}
	if c.Seq != halted {
		return nil, keyledger.Errorf(keyledger.EConflict, "projections are halted at sequence %d, not %d; only that event can be skipped", halted, c.Seq)
	}
	return []events.Event{&events.EventSkipped{Meta: meta(a, now), Seq: c.Seq, Reason: c.Reason}}, nil
}

// SkipEvent stores an EventSkipped for the event this instance's
// projections are halted at, and waits until they have passed it.
func (s *Service) SkipEvent(ctx context.Context, a Actor, cmdID string, c SkipEvent) (*SkipResult, error) {
	res := &SkipResult{Seq: c.Seq}
	for attempt := 1; ; attempt++ {
		recs, err := s.Store.After(ctx, events.SubjectOps, 0) // operations events are few
		if err != nil {
			return nil, unavailable(err)
		}
		expected := uint64(0)
		if len(recs) > 0 {
			expected = recs[len(recs)-1].Seq
		}
		if r, ok := skipFor(recs, cmdID); ok {
			res.RecordedSeq = r
			break
		}
		halted, _ := s.halted()
		evs, err := DecideSkip(a, c, halted, s.Now())
		if err != nil {
			return nil, err
		}
		evs[0].Base().CommandID = cmdID
		msgID := ""
		if cmdID != "" {
			msgID = cmdID + "@ops"
		}
		seq, err := s.Store.Append(ctx, events.SubjectOps, expected, msgID, evs)
		if err == nil {
			res.RecordedSeq = seq
			break
		}
		if retry, err := retryable(err); !retry || attempt >= s.MaxAttempts {
			return nil, err
		}
	}
	return res, s.awaitPast(ctx, res)
}

// skipFor finds the EventSkipped a command already stored.
func skipFor(recs []events.Recorded, cmdID string) (uint64, bool) {
	for _, r := range recs {
		if cmdID != "" && r.Event.Base().CommandID == cmdID {
			return r.Seq, true
		}
	}
	return 0, false
}

// awaitPast waits until the projections have applied the EventSkipped, or
// have halted at a later event (reported in the result, not as an error:
// the skip itself is done).
func (s *Service) awaitPast(ctx context.Context, res *SkipResult) error {
	for {
		err := s.Applied.WaitFor(ctx, res.RecordedSeq)
		if err == nil {
			return nil
		}
		if seq, reason := s.halted(); seq > res.Seq {
			res.HaltedAgain = reason
			return nil
		}
		select {
		case <-ctx.Done():
			return keyledger.Errorf(keyledger.EUnavailable, "the skip is stored at sequence %d, but projections have not passed it yet", res.RecordedSeq)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
