package commands

import (
	"context"
	"errors"
	"strings"

	"github.com/keyledger/keyledger"
)

// Authenticate turns a bearer token into the actor it acts as: the key's
// owner with the owner's roles. Every failure is the same unauthenticated
// error, so a caller learns nothing about which keys exist.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Actor, error) {
	deny := keyledger.Errorf(keyledger.EUnauthenticated, "a valid API key is required (Authorization: Bearer kl_...)")
	token, ok := bearerToken(bearer)
	if !ok {
		return Actor{}, deny
	}
	keyID, secret, ok := keyledger.ParseToken(token)
	if !ok {
		return Actor{}, deny
	}
	c, err := s.Read.Credential(ctx, keyID)
	if errors.Is(err, keyledger.ErrNotFound) {
		// The key may have been issued on another instance a moment ago.
		if last, serr := s.Store.LastSeq(ctx); serr == nil && s.wait(ctx, last) == nil {
			c, err = s.Read.Credential(ctx, keyID)
		}
	}
	if err != nil {
		if errors.Is(err, keyledger.ErrNotFound) {
			return Actor{}, deny
		}
		return Actor{}, err
	}
	if !keyledger.SecretMatches(secret, c.SecretHash) || !c.OwnerActive {
		return Actor{}, deny
	}
	settings, err := s.Read.Settings(ctx)
	if err != nil {
		return Actor{}, err
	}
	clock := c.Clock()
	if s.Usage != nil {
		// This instance may know of a use the projections have not seen yet.
		clock.LastUsedAt = max(clock.LastUsedAt, s.Usage.LastUsed(c.KeyID))
	}
	if status, _ := clock.StatusAtUnix(s.Now().Unix(), keyledger.PolicyOf(settings)); status != keyledger.StatusActive {
		return Actor{}, deny
	}
	if s.Usage != nil {
		s.Usage.CountUse(c.KeyID)
	}
	return Actor{UserID: c.Owner, KeyID: c.KeyID, Roles: c.OwnerRoles}, nil
}

// UsageCounter counts uses of keys, as the verify index does for
// verifications: its counts become UsageRecorded events once a minute, which
// move the key's last_used_at. Authenticating with a key counts as one valid
// use, so keys used only for management calls do not expire for inactivity.
type UsageCounter interface {
	// CountUse counts one valid use of the key now.
	CountUse(keyID string)
	// LastUsed is the key's latest use this counter knows of, in Unix
	// seconds (0: none).
	LastUsed(keyID string) int64
}

// bearerToken returns the token of an Authorization header value. The scheme
// is case-insensitive (RFC 9110): "bearer kl_..." works as "Bearer kl_...".
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
