package commands

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/keyledger/keyledger"
)

// Authenticate turns a bearer token into the actor it acts as: the key's
// owner with the owner's roles. Every failure is the same unauthenticated
// error, so a caller learns nothing about which keys exist, except for the
// key's holder (the secret is right): they are told it was revoked or has
// expired, or that its owner is deactivated.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Actor, error) {
	token, ok := bearerToken(bearer)
	if !ok {
		return Actor{}, errDeny
	}
	keyID, secret, ok := keyledger.ParseToken(token)
	if !ok {
		return Actor{}, errDeny
	}
	return s.authenticate(ctx, keyID, keyledger.SecretProof(secret))
}

// AuthenticateKey turns a key that NATS has already authenticated into the
// actor it acts as: the auth callout checked the key's secret when the
// connection was made, and the server vouches for the connection's key in
// the request (Nats-Request-Info), naming the key and the tag of the secret
// the connection presented (keyledger.ConnectionUser). The key must still
// be active, and tag must name its current secret: a connection made
// before the key was regenerated no longer acts as the key.
func (s *Service) AuthenticateKey(ctx context.Context, keyID, tag string) (Actor, error) {
	a, err := s.authenticate(ctx, keyID, keyledger.ConnectionProof(tag))
	if errors.Is(err, errDeny) {
		err = keyledger.Errorf(keyledger.EUnauthenticated, "this NATS connection was made with a secret key %s no longer has (it was regenerated); connect again with the key's current token", keyID)
	}
	return a, err
}

var errDeny = keyledger.Errorf(keyledger.EUnauthenticated, "a valid API key is required (Authorization: Bearer kl_...)")

// refused is the error for a key that is not active, given its status as
// only its holder may learn it (StatusOf: "" for anyone else). Telling the
// holder that their key was revoked or expired tells them nothing that
// verifying it would not.
func refused(keyID, status string) error {
	switch status {
	case keyledger.StatusRevoked:
		return keyledger.Errorf(keyledger.EUnauthenticated, "key %s was revoked; an admin may regenerate it (its owner too, if the owner revoked it)", keyID)
	case keyledger.StatusExpired:
		return keyledger.Errorf(keyledger.EUnauthenticated, "key %s has expired (past its expiry, or unused past the inactivity policy)", keyID)
	}
	return errDeny
}

// authenticate checks the key keyID and that p proves its current secret.
// With a key index (the server's verify index) it is judged in memory, and
// only the owner's roles come from the decision state; without one, from
// SQLite.
func (s *Service) authenticate(ctx context.Context, keyID string, p keyledger.Proof) (Actor, error) {
	if s.KeyIndex == nil {
		return s.authenticateSQL(ctx, keyID, p)
	}
	from, _ := clientAddrOf(ctx)
	owner, found, ok := s.KeyIndex.Authenticate(keyID, p, from)
	if !found || !ok && owner == "" {
		// The key may have been issued, or given a new secret, on another
		// instance a moment ago. (A wrong secret for a real key waits as
		// long as a key ID that names none.)
		if last, err := s.Store.LastSeq(ctx); err == nil && s.caughtUp(ctx, last) == nil {
			owner, _, ok = s.KeyIndex.Authenticate(keyID, p, from)
		}
	}
	if !ok && owner != "" { // the right key, from outside its networks
		return Actor{UserID: owner, KeyID: keyID}, outsideNetworks(ctx, keyID)
	}
	if !ok {
		return Actor{}, refused(keyID, s.KeyIndex.StatusOf(keyID, p))
	}
	e, err := s.state.owner(ctx, owner)
	if err != nil {
		return Actor{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.owner.Active {
		return Actor{}, keyledger.Errorf(keyledger.EUnauthenticated, "the owner of key %s is deactivated", keyID)
	}
	return Actor{UserID: owner, KeyID: keyID, Roles: slices.Clone(e.owner.Roles)}, nil
}

// authenticateSQL is authenticate from the projections, for a service
// without a key index.
func (s *Service) authenticateSQL(ctx context.Context, keyID string, p keyledger.Proof) (Actor, error) {
	if err := s.fresh(ctx); err != nil {
		return Actor{}, err
	}
	c, err := s.Read.Credential(ctx, keyID)
	if errors.Is(err, keyledger.ErrNotFound) {
		// The key may have been issued on another instance a moment ago.
		if last, serr := s.Store.LastSeq(ctx); serr == nil && s.caughtUp(ctx, last) == nil {
			c, err = s.Read.Credential(ctx, keyID)
		}
	}
	if err != nil {
		if errors.Is(err, keyledger.ErrNotFound) {
			return Actor{}, errDeny
		}
		return Actor{}, err
	}
	if !p.HoldsHex(c.SecretHash) {
		// Given a new secret on another instance a moment ago?
		if last, serr := s.Store.LastSeq(ctx); serr == nil && s.caughtUp(ctx, last) == nil {
			if c, err = s.Read.Credential(ctx, keyID); errors.Is(err, keyledger.ErrNotFound) {
				return Actor{}, errDeny
			} else if err != nil {
				return Actor{}, err
			}
		}
		if !p.HoldsHex(c.SecretHash) {
			return Actor{}, errDeny
		}
	}
	settings, err := s.Read.Settings(ctx)
	if err != nil {
		return Actor{}, err
	}
	if status, _ := c.Clock().StatusAtUnix(s.Now().Unix(), keyledger.PolicyOf(settings)); status != keyledger.StatusActive {
		return Actor{}, refused(keyID, status)
	}
	if !c.OwnerActive {
		return Actor{}, keyledger.Errorf(keyledger.EUnauthenticated, "the owner of key %s is deactivated", keyID)
	}
	if from, _ := clientAddrOf(ctx); !cidrsHold(c.AllowedCIDRs, from) {
		return Actor{UserID: c.Owner, KeyID: c.KeyID}, outsideNetworks(ctx, keyID)
	}
	return Actor{UserID: c.Owner, KeyID: c.KeyID, Roles: c.OwnerRoles}, nil
}

// KeyIndex judges keys in memory: the server's verify index
// (verifier.Index.Authenticate). A key that passes counts as one valid use,
// so keys used only for management calls do not expire for inactivity.
type KeyIndex interface {
	// Authenticate checks that p proves the key's current secret, that
	// it is active now, and that its allowed_cidrs hold from (the zero Addr:
	// unknown, inside none); found is false if the index holds no such
	// key. A right key used from outside its networks gives its owner
	// with ok false.
	Authenticate(keyID string, p keyledger.Proof, from netip.Addr) (owner string, found, ok bool)
	// Owner returns the owner of a key the index holds.
	Owner(keyID string) (string, bool)
	// StatusOf returns the key's status if p proves its current
	// secret, else "".
	StatusOf(keyID string, p keyledger.Proof) string
}

// outsideNetworks is the error for a key whose allowed_cidrs do not hold
// the address the call came from, or when the transport could not tell
// that address. Authentication proved the key: only its holder hears why.
func outsideNetworks(ctx context.Context, keyID string) error {
	addr, known := clientAddrOf(ctx)
	if !known {
		return keyledger.Errorf(keyledger.EForbidden, "key %s has allowed_cidrs, and keyledger could not tell the address this call came from", keyID)
	}
	return keyledger.Errorf(keyledger.EForbidden, "key %s may not be used from %s: it is outside the key's allowed_cidrs", keyID, addr)
}

// cidrsHold reports whether addr is inside one of cidrs, or cidrs is empty.
func cidrsHold(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && addr.IsValid() && p.Contains(addr) {
			return true
		}
	}
	return false
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
