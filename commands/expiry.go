package commands

import (
	"context"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// Expiry reasons, as keyledger.KeyClock reports them.
const (
	ExpiredTTL        = keyledger.ExpiredTTL        // past expires_at
	ExpiredInactivity = keyledger.ExpiredInactivity // unused longer than the policy allows
)

// DecideExpire records that an active key expired. A "ttl" expiry must be
// due by the key's own expires_at; an "inactivity" expiry is judged by the
// caller, which alone knows when the key was last used (usage is not part of
// the owner's aggregate). A key that is no longer active yields nothing, so
// of several instances sweeping at once, one records the expiry.
func DecideExpire(o *Owner, keyID, reason string, now time.Time) ([]events.Event, error) {
	k, ok := o.Keys[keyID]
	if !ok {
		return nil, keyledger.Errorf(keyledger.ENotFound, "key %s not found", keyID)
	}
	if k.Status != keyledger.StatusActive {
		return nil, nil
	}
	switch reason {
	case ExpiredTTL:
		if k.StatusAt(now) != keyledger.StatusExpired {
			return nil, nil
		}
	case ExpiredInactivity:
	default:
		return nil, keyledger.Errorf(keyledger.EInvalid, "reason: %q is not ttl or inactivity", reason)
	}
	return []events.Event{&events.KeyExpired{Meta: meta(System, now), KeyID: keyID, Owner: o.ID, Reason: reason}}, nil
}

// ExpireKey records one key's expiry, if it is still active.
func (s *Service) ExpireKey(ctx context.Context, owner, keyID, reason string) error {
	_, err := s.onOwner(ctx, owner, "", func(o *Owner) ([]events.Event, error) {
		return DecideExpire(o, keyID, reason, s.Now())
	})
	return err
}
