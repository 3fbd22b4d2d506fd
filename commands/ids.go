package commands

import (
	"context"
	"strings"

	"github.com/keyledger/keyledger"
)

// MaxKeyIDs is the most key IDs one revoke or delete may name.
const MaxKeyIDs = 1000

// checkID checks that id is a canonical ULID. IDs become subject tokens, so
// anything else (a wildcard, a dot, a space, lower case) is refused before it
// reaches a subject or a read. A pasted token is named as such, never echoed.
func checkID(field, id string) error {
	if strings.HasPrefix(field, "key") {
		return keyledger.CheckKeyID(field, id)
	}
	if err := keyledger.CheckNotToken(field, id); err != nil {
		return err
	}
	if id == "" {
		return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	}
	if !keyledger.IsID(id) {
		return keyledger.Errorf(keyledger.EInvalid, "%s: %s is not a user ID (26 characters such as 01J9Z3…)", field, keyledger.Quote(id))
	}
	return nil
}

// checkIDs checks a list of key IDs.
func checkIDs(field string, ids []string) error {
	if len(ids) == 0 {
		return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	}
	if len(ids) > MaxKeyIDs {
		return keyledger.Errorf(keyledger.EInvalid, "%s: at most %d at once, not %d", field, MaxKeyIDs, len(ids))
	}
	return checkKeyIDs(field, ids)
}

// userID turns what a caller gave for a user (an ID, or the unique name of a
// user) into the user's ID. A name that several users share is refused,
// listing their IDs; anything else that is not an ID is invalid.
func (s *Service) userID(ctx context.Context, field, ref string) (string, error) {
	if ref == "" || keyledger.IsID(ref) || strings.Contains(strings.ToLower(ref), "kl_") {
		return ref, checkID(field, ref)
	}
	users, err := s.read().Users(ctx, ref)
	if err != nil {
		return "", err
	}
	// Active users first: a deactivated user's name may have been reused.
	var ids, inactive []string
	for _, u := range users {
		switch {
		case u.Name == ref && u.Active:
			ids = append(ids, u.ID)
		case u.Name == ref:
			inactive = append(inactive, u.ID)
		}
	}
	if len(ids) == 0 {
		ids = inactive
	}
	switch len(ids) {
	case 0:
		return "", keyledger.Errorf(keyledger.EInvalid, "%s: %s is neither a user ID nor the name of a user", field, keyledger.Quote(ref))
	case 1:
		return ids[0], nil
	}
	return "", keyledger.Errorf(keyledger.EInvalid, "%s: %d users are named %s; pass one of their IDs: %s", field, len(ids), keyledger.Quote(ref), strings.Join(ids, ", "))
}

// ownerRef turns the owner a caller names into a user ID. A caller who may
// name anyone (anyone is true) names them as userID allows; anyone else may
// name only themself, by ID or by their own user name, and is refused
// (refusal, forbidden) before any lookup of another name: resolving it first
// would tell them which names exist.
func (s *Service) ownerRef(ctx context.Context, a Actor, ref string, anyone bool, refusal string) (string, error) {
	if anyone {
		return s.userID(ctx, "owner", ref)
	}
	if ref == a.UserID {
		return ref, nil
	}
	if ref != "" && !keyledger.IsID(ref) && keyledger.CheckNotToken("owner", ref) == nil {
		me, err := s.read().User(ctx, a.UserID)
		if err != nil && keyledger.ErrorCode(err) != keyledger.ENotFound {
			return "", err
		}
		if me != nil && me.Name == ref {
			return a.UserID, nil
		}
	}
	return "", keyledger.Errorf(keyledger.EForbidden, "%s", refusal)
}

// ownOnly is ownerRef for managing keys: admins name anyone, developers
// only themselves.
func (s *Service) ownOnly(ctx context.Context, a Actor, owner string) (string, error) {
	return s.ownerRef(ctx, a, owner, a.Is(keyledger.RoleAdmin), "developers manage only their own keys")
}
