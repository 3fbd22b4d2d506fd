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
	if !keyledger.SecretMatches(secret, c.SecretHash) || !c.OwnerActive || c.Status != keyledger.StatusActive ||
		(c.ExpiresAt != nil && !s.Now().Before(*c.ExpiresAt)) {
		return Actor{}, deny
	}
	return Actor{UserID: c.Owner, KeyID: c.KeyID, Roles: c.OwnerRoles}, nil
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
