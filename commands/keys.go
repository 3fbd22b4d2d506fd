package commands

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// IssueKey issues a key and returns it with its token: the only time the
// token is ever shown. A replayed command returns the key without a token.
func (s *Service) IssueKey(ctx context.Context, a Actor, cmdID string, c IssueKey) (*keyledger.Key, error) {
	if err := mayManageSome(a); err != nil {
		return nil, err
	}
	var err error
	if c.Owner == "" {
		c.Owner = a.UserID
	} else if c.Owner, err = s.ownOnly(ctx, a, c.Owner); err != nil {
		return nil, err
	}
	if err := mayManageKeys(a, c.Owner); err != nil {
		return nil, err
	}
	settings, err := s.settings(ctx)
	if err != nil {
		return nil, err
	}
	c.KeyID = s.NewID()
	token, hash, err := s.newSecret(c.KeyID)
	if err != nil {
		return nil, err
	}
	c.SecretHash = hash
	var issued *events.KeyIssued
	var ownerName string
	out, err := s.onOwner(ctx, c.Owner, cmdID, func(o *Owner) ([]events.Event, error) {
		evs, err := DecideIssue(settings, o, a, c, s.Now())
		if err == nil {
			issued, ownerName = evs[0].(*events.KeyIssued), o.Name
		}
		return evs, err
	})
	if err != nil {
		return nil, err
	}
	if out.replayed {
		return s.replayedKey(ctx, out.keyRef)
	}
	k := IssuedKey(issued, ownerName, settings, s.Now())
	k.Token = token
	return k, nil
}

// IssuedKey is the key as the read model holds it right after e (times to
// the millisecond, as stored): the reply to an issue, built from the event
// instead of read back from SQLite, which would cost every issue a query.
func IssuedKey(e *events.KeyIssued, ownerName string, s keyledger.Settings, now time.Time) *keyledger.Key {
	at := e.At.UTC().Truncate(time.Millisecond)
	k := &keyledger.Key{
		ID: e.KeyID, Owner: e.Owner, OwnerName: ownerName, Name: e.Name, Description: e.Description,
		Scopes: orEmpty(e.Scopes), AllowedCIDRs: orEmpty(e.AllowedCIDRs),
		CreatedAt: at, CreatedBy: e.Actor, UpdatedAt: at,
	}
	if e.RateLimit != nil {
		rl := *e.RateLimit
		k.RateLimit = &rl
	}
	if e.ExpiresAt != nil {
		exp := e.ExpiresAt.UTC().Truncate(time.Millisecond)
		k.ExpiresAt = &exp
	}
	clock := keyledger.NewKeyClock(keyledger.StatusActive, k.ExpiresAt, k.CreatedAt, nil, nil)
	k.Status, k.EffectiveExpiresAt = clock.StatusAt(now, keyledger.PolicyOf(s))
	return k
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func (s *Service) replayedKey(ctx context.Context, keyID string) (*keyledger.Key, error) {
	k, err := s.read().Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	k.Replayed = true
	return k, nil
}

// ownerOf finds the owner of a key: in the key index, or in SQLite, waiting
// once for this instance's projections to catch up with the stream when the
// key is not known yet.
func (s *Service) ownerOf(ctx context.Context, keyID string) (string, error) {
	if err := checkID("key_id", keyID); err != nil {
		return "", err
	}
	if s.KeyIndex != nil {
		if owner, ok := s.KeyIndex.Owner(keyID); ok {
			return owner, nil
		}
	}
	owner, err := s.Read.KeyOwner(ctx, keyID)
	if !errors.Is(err, keyledger.ErrNotFound) {
		return owner, err
	}
	last, serr := s.Store.LastSeq(ctx)
	if serr != nil {
		return "", err
	}
	if werr := s.caughtUp(ctx, last); werr != nil {
		return "", err
	}
	return s.Read.KeyOwner(ctx, keyID)
}

// UpdateKey renames a key or changes its description.
func (s *Service) UpdateKey(ctx context.Context, a Actor, cmdID string, c UpdateKey) (*keyledger.Key, error) {
	if err := mayManageSome(a); err != nil {
		return nil, err
	}
	owner, err := s.ownerOf(ctx, c.KeyID)
	if err != nil {
		return nil, err
	}
	if _, err := s.onOwner(ctx, owner, cmdID, func(o *Owner) ([]events.Event, error) {
		return DecideUpdate(o, a, c, s.Now())
	}); err != nil {
		return nil, err
	}
	return s.read().Key(ctx, c.KeyID)
}

// RegenerateKey gives a revoked key a new secret and returns its token.
func (s *Service) RegenerateKey(ctx context.Context, a Actor, cmdID string, c RegenerateKey) (*keyledger.Key, error) {
	if err := mayManageSome(a); err != nil {
		return nil, err
	}
	owner, err := s.ownerOf(ctx, c.KeyID)
	if err != nil {
		return nil, err
	}
	settings, err := s.settings(ctx)
	if err != nil {
		return nil, err
	}
	token, hash, err := s.newSecret(c.KeyID)
	if err != nil {
		return nil, err
	}
	c.SecretHash = hash
	out, err := s.onOwner(ctx, owner, cmdID, func(o *Owner) ([]events.Event, error) {
		return DecideRegenerate(settings, o, a, c, s.Now())
	})
	if err != nil {
		return nil, err
	}
	if out.replayed {
		return s.replayedKey(ctx, c.KeyID)
	}
	k, err := s.read().Key(ctx, c.KeyID)
	if err != nil {
		return nil, err
	}
	k.Token = token
	return k, nil
}

// RevokeResult lists which keys a revoke ended and which it could not.
type RevokeResult struct {
	Revoked []string  `json:"revoked"`
	Failed  []Failure `json:"failed"`
}

// DeleteResult lists which keys a delete ended and which it could not.
type DeleteResult struct {
	Deleted []string  `json:"deleted"`
	Failed  []Failure `json:"failed"`
}

func failure(keyID string, err error) Failure {
	return Failure{KeyID: keyID, Code: keyledger.ErrorCode(err), Message: keyledger.ErrorMessage(err)}
}

// eachKey applies decide to every listed key, grouping them by owner so that
// each owner's keys change in one atomic append. It returns the keys that
// changed and those that did not, with why.
func (s *Service) eachKey(ctx context.Context, a Actor, cmdID string, keyIDs []string, decide func(*Owner, string) ([]events.Event, error)) ([]string, []Failure, error) {
	if err := mayManageSome(a); err != nil {
		return nil, nil, err
	}
	if err := checkIDs("key_ids", keyIDs); err != nil {
		return nil, nil, err
	}
	done, failed := []string{}, []Failure{}
	byOwner, order := map[string][]string{}, []string{}
	seen := map[string]bool{}
	for _, id := range keyIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		owner, err := s.ownerOf(ctx, id)
		if err != nil {
			if keyledger.ErrorCode(err) == keyledger.EInternal {
				return nil, nil, err
			}
			failed = append(failed, failure(id, err))
			continue
		}
		if byOwner[owner] == nil {
			order = append(order, owner)
		}
		byOwner[owner] = append(byOwner[owner], id)
	}
	for _, owner := range order {
		var ok []string
		var bad []Failure
		out, err := s.onOwner(ctx, owner, cmdID, func(o *Owner) ([]events.Event, error) {
			ok, bad = nil, nil
			var evs []events.Event
			for _, id := range byOwner[owner] {
				e, err := decide(o, id)
				if err != nil {
					bad = append(bad, failure(id, err))
					continue
				}
				ok, evs = append(ok, id), append(evs, e...)
			}
			return evs, nil
		})
		if err != nil {
			return nil, nil, err
		}
		if out.replayed {
			ok, bad = byOwner[owner], nil
		}
		done, failed = append(done, ok...), append(failed, bad...)
	}
	return done, failed, nil
}

// RevokeKeys revokes the listed keys that are active.
func (s *Service) RevokeKeys(ctx context.Context, a Actor, cmdID string, c RevokeKeys) (*RevokeResult, error) {
	done, failed, err := s.eachKey(ctx, a, cmdID, c.KeyIDs, func(o *Owner, id string) ([]events.Event, error) {
		return DecideRevoke(o, a, id, c.Reason, s.Now())
	})
	if err != nil {
		return nil, err
	}
	return &RevokeResult{Revoked: done, Failed: failed}, nil
}

// DeleteKeys deletes the listed keys, or every key of an owner.
func (s *Service) DeleteKeys(ctx context.Context, a Actor, cmdID string, c DeleteKeys) (*DeleteResult, error) {
	if err := mayManageSome(a); err != nil {
		return nil, err
	}
	if err := checkText("reason", c.Reason, 0, MaxReasonLen); err != nil {
		return nil, err // once, not once for each key
	}
	if c.All {
		if c.Owner == "" || len(c.KeyIDs) > 0 {
			return nil, keyledger.Errorf(keyledger.EInvalid, "all: give owner and no key_ids")
		}
		owner, err := s.ownOnly(ctx, a, c.Owner)
		if err != nil {
			return nil, err
		}
		if err := mayManageKeys(a, owner); err != nil {
			return nil, err
		}
		return s.deleteAll(ctx, a, cmdID, owner, c.Reason)
	}
	if c.Owner != "" {
		return nil, keyledger.Errorf(keyledger.EInvalid, "owner: only with all=true")
	}
	done, failed, err := s.eachKey(ctx, a, cmdID, c.KeyIDs, func(o *Owner, id string) ([]events.Event, error) {
		return DecideDelete(o, a, id, c.Reason, s.Now())
	})
	if err != nil {
		return nil, err
	}
	return &DeleteResult{Deleted: done, Failed: failed}, nil
}

// deleteAll deletes an owner's keys in atomic chunks of at most one batch;
// each chunk is its own command, so a retry resumes where it stopped.
func (s *Service) deleteAll(ctx context.Context, a Actor, cmdID, owner, reason string) (*DeleteResult, error) {
	res := &DeleteResult{Deleted: []string{}, Failed: []Failure{}}
	for chunk := 1; ; chunk++ {
		id := cmdID
		if chunk > 1 && cmdID != "" {
			id = cmdID + "#" + strconv.Itoa(chunk)
		}
		var evs []events.Event
		out, err := s.onOwner(ctx, owner, id, func(o *Owner) ([]events.Event, error) {
			var err error
			evs, err = DecideDeleteAll(o, a, events.MaxBatch, reason, s.Now())
			return evs, err
		})
		if err != nil {
			return nil, err
		}
		if out.replayed {
			continue
		}
		for _, e := range evs {
			res.Deleted = append(res.Deleted, e.KeyRef())
		}
		if len(evs) < events.MaxBatch {
			return res, nil
		}
	}
}
