package commands

import (
	"context"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// Recovery is the actor of break-glass recovery: someone with the data
// directory on the server's host, not a key holder.
var Recovery = Actor{UserID: "recovery", Roles: []string{keyledger.RoleAdmin}}

// RecoveryKeyLifetime is how long a break-glass admin key works: long enough
// to issue yourself a proper key and revoke this one.
const RecoveryKeyLifetime = 24 * time.Hour

// Recovered is what Recover stored.
type Recovered struct {
	UserID, UserName, KeyID string
	ExpiresAt               time.Time
	Seq                     uint64 // stream sequence of the last event stored
}

// Recover registers a fresh user with the admin role and issues them a key
// that expires after RecoveryKeyLifetime, as one atomic batch with actor
// "recovery". It works whatever the policy says (keys disabled, every admin
// deactivated or expired), which is why only the data directory's holder can
// run it. save is called with the token before anything is stored, as in
// Bootstrap. It does not wait for projections: the server may be stopped,
// and projects the events when it starts.
func (s *Service) Recover(ctx context.Context, save func(token string) error) (Recovered, error) {
	now := s.Now().UTC()
	r := Recovered{UserID: s.NewID(), KeyID: s.NewID(), UserName: "recovery-" + now.Format("20060102T150405Z"),
		ExpiresAt: now.Add(RecoveryKeyLifetime).Truncate(time.Second)}
	token, hash, err := s.newSecret(r.KeyID)
	if err != nil {
		return r, err
	}
	if err := save(token); err != nil {
		return r, err
	}
	m := events.Meta{At: now, Actor: Recovery.UserID, CommandID: "recover-" + r.KeyID}
	evs := []events.Event{
		&events.UserRegistered{Meta: m, UserID: r.UserID, Name: r.UserName, Kind: keyledger.KindPerson, Roles: []string{keyledger.RoleAdmin}},
		&events.KeyIssued{Meta: m, KeyID: r.KeyID, Owner: r.UserID, Name: "recovery",
			Description: "break-glass key from `keyledger admin recover`; issue yourself a proper key and revoke this one",
			ExpiresAt:   &r.ExpiresAt, SecretHash: hash},
	}
	r.Seq, err = s.Store.Append(ctx, events.OwnerSubjects(r.UserID), 0, m.CommandID, evs)
	if err != nil {
		return r, unavailable(err)
	}
	return r, nil
}
