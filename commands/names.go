package commands

import (
	"context"
	"errors"

	"github.com/keyledger/keyledger"
)

// userNames looks up the names of users by ID for one answer, each ID
// once. An ID that names no user (keyledger itself, "system") has none.
type userNames struct {
	ctx   context.Context
	state *aggregates // looked at first: no SQLite read for an owner in memory
	read  ReadModel
	names map[string]string
	only  string // if set, the one user whose name may be told
	err   error
}

// userNames looks up any user's name.
func (s *Service) userNames(ctx context.Context) *userNames {
	return &userNames{ctx: ctx, state: s.state, read: s.Read, names: map[string]string{}}
}

// userNamesFor looks up the names a may see: any user's for an admin or
// an auditor, who may list users; a's own for anyone else.
func (s *Service) userNamesFor(ctx context.Context, a Actor) *userNames {
	n := s.userNames(ctx)
	if !a.Is(keyledger.RoleAdmin) && !a.Is(keyledger.RoleAuditor) {
		n.only = a.UserID
		if n.only == "" {
			n.only = "-" // nobody
		}
	}
	return n
}

// of returns the name of the user id, or "".
func (n *userNames) of(id string) string {
	if id == "" || !keyledger.IsID(id) || n.err != nil || n.only != "" && id != n.only {
		return ""
	}
	name, ok := n.names[id]
	if !ok && n.state != nil {
		if name, ok = n.state.cachedName(id); ok {
			n.names[id] = name
		}
	}
	if !ok {
		u, err := n.read.User(n.ctx, id)
		switch {
		case err == nil:
			name = u.Name
		case !errors.Is(err, keyledger.ErrNotFound):
			n.err = err
		}
		n.names[id] = name
	}
	return name
}

// entries names the actor and owner of each entry.
func (n *userNames) entries(entries []*keyledger.AuditEntry) error {
	for _, e := range entries {
		e.ActorName, e.OwnerName = n.of(e.Actor), n.of(e.Owner)
	}
	return n.err
}

// key names the users who created, revoked and deleted k.
func (n *userNames) key(k *keyledger.Key) error {
	k.CreatedByName, k.RevokedByName, k.DeletedByName = n.of(k.CreatedBy), n.of(k.RevokedBy), n.of(k.DeletedBy)
	return n.err
}

// namedKey is a query's answer of one key, with names (userNamesFor).
func (s *Service) namedKey(ctx context.Context, a Actor, k *keyledger.Key, err error) (*keyledger.Key, error) {
	if err != nil {
		return nil, err
	}
	if err := s.userNamesFor(ctx, a).key(k); err != nil {
		return nil, err
	}
	return k, nil
}

// namedSettings is an answer of the settings, with the name of who last
// changed them (userNamesFor).
func (s *Service) namedSettings(ctx context.Context, a Actor, st keyledger.Settings, err error) (keyledger.Settings, error) {
	if err != nil {
		return st, err
	}
	n := s.userNamesFor(ctx, a)
	st.UpdatedByName = n.of(st.UpdatedBy)
	return st, n.err
}
