package commands

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// SetSettings changes the key policy and returns it.
func (s *Service) SetSettings(ctx context.Context, a Actor, cmdID string, c SetSettings) (keyledger.Settings, error) {
	if err := requireAdmin(a); err != nil {
		return keyledger.Settings{}, err
	}
	e, err := s.state.settingsEntry(ctx)
	if err != nil {
		return keyledger.Settings{}, unavailable(err)
	}
	if _, err := s.onEntry(ctx, e, events.SubjectSettings, cmdID, func(e *entry) ([]events.Event, error) {
		return DecideSettings(e.settings, a, c, s.Now())
	}); err != nil {
		return keyledger.Settings{}, err
	}
	return s.read().Settings(ctx)
}

// RegisterUser adds a person or service account under a new ID. With a
// command ID, the new ID is derived from it: a retry reaches the same
// aggregate and is answered from what the first attempt did, instead of
// registering the user twice.
func (s *Service) RegisterUser(ctx context.Context, a Actor, cmdID string, c RegisterUser) (*keyledger.User, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	c.UserID = s.NewID()
	if cmdID != "" {
		c.UserID = idFor("user", cmdID)
	}
	if err := s.uniqueName(ctx, c.UserID, c.Name); err != nil {
		return nil, err
	}
	if _, err := s.onOwner(ctx, c.UserID, cmdID, func(o *Owner) ([]events.Event, error) {
		return DecideRegister(o, a, c, s.Now())
	}); err != nil {
		return nil, err
	}
	return s.read().User(ctx, c.UserID)
}

// uniqueName checks that a new user's name can stand for their ID: no ID
// shape, no surrounding spaces, and no other user of that name, active or
// deactivated: the audit trail names users, and an old bob's entries must
// not read as a new bob's. Checked against this instance's projections:
// two registrations of one name racing on two instances can both succeed,
// and then the name must be given as IDs (an active user's first).
func (s *Service) uniqueName(ctx context.Context, id, name string) error {
	switch {
	case keyledger.IsID(name):
		return keyledger.Errorf(keyledger.EInvalid, "name: %s looks like a user ID; names stand for IDs, so they may not look like one", keyledger.Quote(name))
	case strings.TrimSpace(name) != name:
		return keyledger.Errorf(keyledger.EInvalid, "name: no spaces at the start or end")
	case name == "":
		return nil // the decision names the field
	case strings.EqualFold(name, System.UserID) || strings.EqualFold(name, Recovery.UserID):
		// Filters read these words as keyledger's own actors: a user of
		// that name could never be found by it.
		return keyledger.Errorf(keyledger.EInvalid, "name: %q is what the audit trail calls keyledger itself; choose another", name)
	}
	users, err := s.read().Users(ctx, name)
	if err != nil {
		return err
	}
	for _, u := range users {
		switch {
		case !strings.EqualFold(u.Name, name) || u.ID == id:
		case u.Active:
			return keyledger.Errorf(keyledger.EConflict, "name: user %s is already named %q; names are unique so they can stand for IDs", u.ID, u.Name)
		default:
			return keyledger.Errorf(keyledger.EConflict, "name: %q was user %s, now deactivated; a name is never given to another user, so that the audit trail's names stay unambiguous: choose another", u.Name, u.ID)
		}
	}
	return nil
}

// ChangeRoles replaces a user's roles.
func (s *Service) ChangeRoles(ctx context.Context, a Actor, cmdID string, c ChangeRoles) (*keyledger.User, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var err error
	if c.UserID, err = s.userID(ctx, "user_id", c.UserID); err != nil {
		return nil, err
	}
	if _, err := s.onOwner(ctx, c.UserID, cmdID, func(o *Owner) ([]events.Event, error) {
		return DecideRoles(o, a, c, s.Now())
	}); err != nil {
		return nil, err
	}
	return s.read().User(ctx, c.UserID)
}

// idFor derives a stable ID from a command ID, so that a retry registers
// the same user. A command ID that is itself a ULID (the CLI sends those)
// lends the ID its time, so it sorts by time like every other ID; the rest,
// and all of any other command ID's, comes from a hash.
func idFor(kind, cmdID string) string {
	sum := sha256.Sum256([]byte("keyledger/" + kind + "/" + cmdID))
	var id ulid.ULID
	copy(id[:], sum[:])
	// The caller's Idempotency-Key is the part before '#' (scopedCommandID).
	key, _, _ := strings.Cut(cmdID, "#")
	if t, err := ulid.ParseStrict(key); err == nil {
		copy(id[:6], t[:6])
	}
	return id.String()
}

// DeactivateUser deactivates a user and deletes all their keys in one
// atomic batch.
func (s *Service) DeactivateUser(ctx context.Context, a Actor, cmdID string, c DeactivateUser) (*keyledger.User, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var err error
	if c.UserID, err = s.userID(ctx, "user_id", c.UserID); err != nil {
		return nil, err
	}
	if _, err := s.onOwner(ctx, c.UserID, cmdID, func(o *Owner) ([]events.Event, error) {
		return DecideDeactivate(o, a, c, s.Now())
	}); err != nil {
		return nil, err
	}
	return s.read().User(ctx, c.UserID)
}

// Bootstrap registers the first admin and issues their key, if and only if
// the stream is empty: of several instances starting together on one
// cluster, exactly one succeeds. save is called with the token before
// anything is stored, so a crash cannot leave an admin nobody can act as;
// created tells the caller whether to keep what save wrote.
func (s *Service) Bootstrap(ctx context.Context, save func(token string) error) (created bool, err error) {
	last, err := s.Store.LastSeq(ctx)
	if err != nil || last > 0 {
		return false, err
	}
	userID, keyID := s.NewID(), s.NewID()
	token, hash, err := s.newSecret(keyID)
	if err != nil {
		return false, err
	}
	if err := save(token); err != nil {
		return false, err
	}
	m := events.Meta{At: s.Now(), Actor: System.UserID, CommandID: "bootstrap"}
	evs := []events.Event{
		&events.UserRegistered{Meta: m, UserID: userID, Name: "admin", Kind: keyledger.KindPerson, Roles: []string{keyledger.RoleAdmin}},
		&events.KeyIssued{Meta: m, KeyID: keyID, Owner: userID, Name: "bootstrap", Description: "created at first start; no expiry date, but inactivity_expiry applies",
			SecretHash: hash},
	}
	seq, err := s.Store.Append(ctx, events.SubjectAll, 0, "bootstrap", evs)
	if errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrDuplicate) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, s.wait(ctx, seq)
}
