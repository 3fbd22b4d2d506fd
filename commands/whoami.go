package commands

import (
	"context"

	"github.com/keyledger/keyledger"
)

// Identity is who a token acts as: its owner, with their roles, and the key
// itself. The console asks for it after sign-in to decide what to show.
type Identity struct {
	keyledger.User
	KeyID string `json:"key_id"`
}

// Whoami returns the caller's own identity; it needs no role.
func (s *Service) Whoami(ctx context.Context, a Actor) (*Identity, error) {
	u, err := s.read().User(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	return &Identity{User: *u, KeyID: a.KeyID}, nil
}
