package commands

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

// History rebuilds the read models as they stood after a stream sequence,
// by replay; at is the instant the view describes (zero: when the event at
// seq was recorded).
type History interface {
	PastKeys(ctx context.Context, seq uint64, at time.Time) (PastReader, error)
}

// PastReader answers key queries from a point-in-time view.
type PastReader interface {
	Key(ctx context.Context, id string) (*keyledger.Key, error)
	Keys(ctx context.Context, f keyledger.KeyFilter) (*keyledger.KeyPage, error)
}

// SeqFinder finds the last sequence stored at or before a time.
type SeqFinder interface {
	SeqAt(ctx context.Context, t time.Time) (uint64, error)
}

// pointInTime resolves an as_of value ("seq:N" or an RFC 3339 time) to the
// stream sequence the view ends at and the instant it describes.
func (s *Service) pointInTime(ctx context.Context, asOf string) (uint64, time.Time, error) {
	if s.History == nil {
		return 0, time.Time{}, keyledger.Errorf(keyledger.EUnavailable, "as_of: point-in-time views are not enabled on this instance")
	}
	last, err := s.Store.LastSeq(ctx)
	if err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	if n, ok := strings.CutPrefix(asOf, "seq:"); ok {
		seq, err := strconv.ParseUint(n, 10, 64)
		if err != nil || seq > last {
			return 0, time.Time{}, keyledger.Errorf(keyledger.EInvalid, "as_of: %s is not a stored sequence (seq:0 to seq:%d)", keyledger.Quote(asOf), last)
		}
		return seq, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, asOf)
	if err != nil {
		return 0, time.Time{}, keyledger.Errorf(keyledger.EInvalid, "as_of: %s is neither an RFC 3339 time such as 2026-01-02T15:04:05Z nor seq:N", keyledger.Quote(asOf))
	}
	if err := checkTime("as_of", t); err != nil {
		return 0, time.Time{}, err
	}
	if t.After(s.Now()) {
		return 0, time.Time{}, keyledger.Errorf(keyledger.EInvalid, "as_of: %s is in the future", t.UTC().Format(time.RFC3339))
	}
	finder, ok := s.Store.(SeqFinder)
	if !ok {
		return 0, time.Time{}, keyledger.Errorf(keyledger.EUnavailable, "as_of: this event store cannot find a sequence by time; use seq:N")
	}
	seq, err := finder.SeqAt(ctx, t)
	if err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	return seq, t.UTC(), nil
}

// past returns the read model as it stood at asOf.
func (s *Service) past(ctx context.Context, asOf string) (PastReader, error) {
	seq, at, err := s.pointInTime(ctx, asOf)
	if err != nil {
		return nil, err
	}
	r, err := s.History.PastKeys(ctx, seq, at)
	if err != nil {
		return nil, unavailable(err)
	}
	return r, nil
}

// KeyAsOf returns one key, as it stands now or, with asOf, as it stood then.
func (s *Service) KeyAsOf(ctx context.Context, a Actor, keyID, asOf string) (*keyledger.Key, error) {
	if asOf == "" {
		return s.Key(ctx, a, keyID)
	}
	if len(a.Roles) == 0 {
		return nil, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
	}
	if err := checkID("key_id", keyID); err != nil {
		return nil, err
	}
	r, err := s.past(ctx, asOf)
	if err != nil {
		return nil, err
	}
	k, err := r.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := mayReadKey(a, k); err != nil {
		return nil, err
	}
	return k, nil
}
