package commands

import (
	"context"
	"strings"

	"github.com/keyledger/keyledger"
)

// mayRead checks that a may read what owner owns: admins and auditors
// anything, developers their own.
func mayRead(a Actor, owner string) error {
	switch {
	case a.Is(keyledger.RoleAdmin) || a.Is(keyledger.RoleAuditor):
		return nil
	case a.Is(keyledger.RoleDeveloper) && (owner == a.UserID):
		return nil
	case a.Is(keyledger.RoleDeveloper):
		return keyledger.Errorf(keyledger.EForbidden, "developers see only their own keys")
	}
	return keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
}

// Settings returns the key policy to anyone with a role.
func (s *Service) Settings(ctx context.Context, a Actor) (keyledger.Settings, error) {
	if len(a.Roles) == 0 {
		return keyledger.Settings{}, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
	}
	return s.read().Settings(ctx)
}

// Key returns one key.
func (s *Service) Key(ctx context.Context, a Actor, keyID string) (*keyledger.Key, error) {
	if len(a.Roles) == 0 {
		return nil, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
	}
	if err := checkID("key_id", keyID); err != nil {
		return nil, err
	}
	k, err := s.read().Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := mayReadKey(a, k); err != nil {
		return nil, err
	}
	return k, nil
}

// mayReadKey is mayRead for one key, where a developer asking about another
// owner's key is answered exactly as for a key that does not exist.
func mayReadKey(a Actor, k *keyledger.Key) error {
	err := mayRead(a, k.Owner)
	if err != nil && a.Is(keyledger.RoleDeveloper) {
		return keyledger.Errorf(keyledger.ENotFound, "key %s not found", k.ID)
	}
	return err
}

// Keys lists keys; a developer's list is always their own.
func (s *Service) Keys(ctx context.Context, a Actor, f keyledger.KeyFilter) (*keyledger.KeyPage, error) {
	if len(a.Roles) == 0 {
		return nil, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return nil, keyledger.Errorf(keyledger.EInvalid, "limit must be 1 to 1000 (0 or absent for 100), not %d", f.Limit)
	}
	var err error
	seeAll := a.Is(keyledger.RoleAdmin) || a.Is(keyledger.RoleAuditor)
	if f.Owner == "" && !seeAll {
		f.Owner = a.UserID
	} else if f.Owner != "" {
		if f.Owner, err = s.ownerRef(ctx, a, f.Owner, seeAll, "developers see only their own keys"); err != nil {
			return nil, err
		}
	}
	if f.CreatedBy != "" && f.CreatedBy != System.UserID {
		if !seeAll && !keyledger.IsID(f.CreatedBy) {
			// A developer may not list users: a name is theirs or,
			// whether or not it is someone else's, refused alike.
			id, err := s.ownerRef(ctx, a, f.CreatedBy, false, "")
			if err != nil && keyledger.ErrorCode(err) != keyledger.EForbidden {
				return nil, err
			} else if err != nil {
				return nil, keyledger.Errorf(keyledger.EInvalid, "created_by: %s is not your name; developers name other users by user ID", keyledger.Quote(f.CreatedBy))
			}
			f.CreatedBy = id
		} else if f.CreatedBy, err = s.userID(ctx, "created_by", f.CreatedBy); err != nil {
			return nil, err
		}
	}
	if err := mayRead(a, f.Owner); err != nil {
		return nil, err
	}
	if f.AsOf != "" {
		r, err := s.past(ctx, f.AsOf)
		if err != nil {
			return nil, err
		}
		return r.Keys(ctx, f)
	}
	return s.read().Keys(ctx, f)
}

// Users lists users (all, or those whose name holds q or whose ID is q); developers
// see only themselves.
func (s *Service) Users(ctx context.Context, a Actor, q string) ([]*keyledger.User, error) {
	if !a.Is(keyledger.RoleAdmin) && !a.Is(keyledger.RoleAuditor) {
		if len(a.Roles) == 0 {
			return nil, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries")
		}
		u, err := s.read().User(ctx, a.UserID)
		if err != nil {
			return nil, err
		}
		if q != "" && !strings.Contains(strings.ToLower(u.Name), strings.ToLower(q)) && q != u.ID {
			return []*keyledger.User{}, nil
		}
		return []*keyledger.User{u}, nil
	}
	return s.read().Users(ctx, q)
}
