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
	token, ok := bearerToken(bearer)
	if !ok {
		return Actor{}, errDeny
	}
	keyID, secret, ok := keyledger.ParseToken(token)
	if !ok {
		return Actor{}, errDeny
	}
	return s.authenticate(ctx, keyID, &secret)
}

// AuthenticateKey turns a key that NATS has already authenticated into the
// actor it acts as: the auth callout checked the key's secret when the
// connection was made, and the server vouches for the connection's key in
// the request (Nats-Request-Info). The key must still be active.
func (s *Service) AuthenticateKey(ctx context.Context, keyID string) (Actor, error) {
	return s.authenticate(ctx, keyID, nil)
}

var errDeny = keyledger.Errorf(keyledger.EUnauthenticated, "a valid API key is required (Authorization: Bearer kl_...)")

// authenticate checks the key keyID and, unless secret is nil, its secret.
func (s *Service) authenticate(ctx context.Context, keyID string, secret *string) (Actor, error) {
	c, err := s.Read.Credential(ctx, keyID)
	if errors.Is(err, keyledger.ErrNotFound) {
		// The key may have been issued on another instance a moment ago.
		if last, serr := s.Store.LastSeq(ctx); serr == nil && s.wait(ctx, last) == nil {
			c, err = s.Read.Credential(ctx, keyID)
		}
	}
	if err != nil {
		if errors.Is(err, keyledger.ErrNotFound) {
			return Actor{}, errDeny
		}
		return Actor{}, err
	}
	if (secret != nil && !keyledger.SecretMatches(*secret, c.SecretHash)) || !c.OwnerActive {
		return Actor{}, errDeny
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
		return Actor{}, errDeny
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
