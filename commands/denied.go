package commands

import (
	"context"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// DeniedPerMinute is how many refused attempts on one key may be recorded
// as AccessDenied events per minute; more are refused all the same, and
// counted only in the metrics, so nobody can flood the stream with them.
const DeniedPerMinute = 10

// maxDeniedSources bounds the keys tracked in one minute.
const maxDeniedSources = 10_000

// DeniedPerMinuteTotal bounds the AccessDenied events one instance stores
// per minute, whatever the keys: key IDs of ended keys are announced to
// anyone, so a stranger could otherwise store ten a minute for each of
// thousands of them, for ever (the stream keeps everything).
const DeniedPerMinuteTotal = 600

// deniedLimit is a fixed one-minute window of recorded denials per source,
// and in all.
type deniedLimit struct {
	mu     sync.Mutex
	minute int64
	counts map[string]int
	total  int
}

// allow reports whether one more denial from source may be recorded now.
func (l *deniedLimit) allow(source string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := now.Unix() / 60; m != l.minute || l.counts == nil {
		l.minute, l.counts, l.total = m, map[string]int{}, 0
	}
	n, ok := l.counts[source]
	if n >= DeniedPerMinute || l.total >= DeniedPerMinuteTotal || (!ok && len(l.counts) >= maxDeniedSources) {
		return false
	}
	l.counts[source] = n + 1
	l.total++
	return true
}

// ConnectEndpoint is the endpoint an AccessDenied names for a NATS
// connection refused by the auth callout.
const ConnectEndpoint = "nats.connect"

// AuthenticateConnection authenticates the token a NATS connection
// presents, as a call's is (WithSource and WithClientAddr in ctx say where
// it comes from, and the key's allowed_cidrs must hold that address). A
// refusal of a real key is recorded as a refused call is, under the same
// limits.
func (s *Service) AuthenticateConnection(ctx context.Context, token string) (Actor, error) {
	bearer := "Bearer " + token
	a, err := s.Authenticate(ctx, bearer)
	if code := keyledger.ErrorCode(err); code == keyledger.EUnauthenticated || code == keyledger.EForbidden {
		s.recordDenied(Endpoint{Name: ConnectEndpoint}, bearer, a, code, SourceOf(ctx))
	}
	return a, err
}

// recordDenied stores an AccessDenied for a refused call that names a real
// key: a forbidden call (the actor's key), or a failed authentication with
// a well-formed token for an existing key (the wrong secret, or a key that
// has ended). Garbage tokens are not recorded: they name no key. It does
// not hold up the reply.
func (s *Service) recordDenied(ep Endpoint, bearer string, a Actor, code, source string) {
	keyID, owner := a.KeyID, a.UserID
	// The limit is per key, not per source: a source names a connection
	// (address and port), and a caller opening new connections must not
	// get ten more each time. It comes before any look-up.
	now := s.Now()
	if code == keyledger.EUnauthenticated {
		token, ok := bearerToken(bearer)
		if !ok {
			return
		}
		if keyID, _, ok = keyledger.ParseToken(token); !ok || !s.denials.allow("key:"+keyID, now) {
			return
		}
		owner = "" // looked up below, off the caller's path
	} else if keyID == "" || owner == "" || !keyledger.IsID(owner) || !s.denials.allow("key:"+keyID, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if owner == "" {
			var err error
			if owner, err = s.ownerOf(ctx, keyID); err != nil || !keyledger.IsID(owner) {
				return // no such key: nothing to record it against
			}
		}
		// A refused key's holder is its owner; a failed authentication
		// proves nothing of who tried, so it names no actor (the key and
		// its owner are what was tried, not who), and `audit list --actor`
		// does not put a stranger's guesses under the owner's name.
		actor, actorKey := owner, keyID
		if code == keyledger.EUnauthenticated {
			actor, actorKey = "", ""
		}
		ev := &events.AccessDenied{Meta: events.Meta{At: now.UTC(), Actor: actor, ActorKey: actorKey, Source: source},
			KeyID: keyID, Owner: owner, Endpoint: ep.Name, Code: code}
		if _, err := s.Store.Record(ctx, ev); err != nil {
			s.Logger.Warn("recording a denied attempt failed", "key_id", keyID, "code", code, "err", err)
		}
	}()
}
