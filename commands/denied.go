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

// DeniedPerMinutePerAddress bounds the AccessDenied events one client
// address (an IPv6 /64: keyledger.ClientBucket) may cause per minute, so that one address naming many real keys
// cannot use up DeniedPerMinuteTotal and leave others' refusals
// unrecorded: it takes DeniedPerMinuteTotal / DeniedPerMinutePerAddress
// addresses to do that.
const DeniedPerMinutePerAddress = 100

// deniedLimit is a fixed one-minute window of recorded denials per key,
// per client address, and in all.
type deniedLimit struct {
	mu     sync.Mutex
	minute int64
	keys   map[string]int
	addrs  map[string]int
	total  int
}

// allow reports whether one more denial of keyID, tried from addr ("" if
// unknown), may be recorded now.
func (l *deniedLimit) allow(keyID, addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := now.Unix() / 60; m != l.minute || l.keys == nil {
		l.minute, l.keys, l.addrs, l.total = m, map[string]int{}, map[string]int{}, 0
	}
	n, ok := l.keys[keyID]
	a, aok := l.addrs[addr]
	if n >= DeniedPerMinute || a >= DeniedPerMinutePerAddress || l.total >= DeniedPerMinuteTotal ||
		(!ok && len(l.keys) >= maxDeniedSources) || (!aok && len(l.addrs) >= maxDeniedSources) {
		return false
	}
	l.keys[keyID], l.addrs[addr] = n+1, a+1
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
		s.recordDenied(ctx, Endpoint{Name: ConnectEndpoint}, bearer, a, code)
	}
	return a, err
}

// recordDenied stores an AccessDenied for a refused call that names a real
// key: a forbidden call (the actor's key), or a failed authentication with
// a well-formed token for an existing key (the wrong secret, or a key that
// has ended). Garbage tokens, and well-formed ones naming no key, are not
// recorded and use up none of the limits: otherwise tokens with random
// key IDs would use up the minute's DeniedPerMinuteTotal and hide the
// refusals that matter. Only the storing runs off the caller's path.
func (s *Service) recordDenied(ctx context.Context, ep Endpoint, bearer string, a Actor, code string) {
	keyID, owner := a.KeyID, a.UserID
	if code == keyledger.EUnauthenticated {
		token, ok := bearerToken(bearer)
		if !ok {
			return
		}
		if keyID, _, ok = keyledger.ParseToken(token); !ok {
			return
		}
		// The caller waits for the look-up (the index, or one SQLite row),
		// not the next caller: a flood of forged tokens slows itself.
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		owner, err = s.ownerOf(lctx, keyID)
		cancel()
		if err != nil {
			return // no such key: nothing to record it against
		}
	}
	if keyID == "" || !keyledger.IsID(owner) {
		return
	}
	// The limit is per key, not per connection (address and port): a
	// caller opening new connections must not get ten more each time.
	now := s.Now()
	addr, _ := clientAddrOf(ctx)
	if !s.denials.allow(keyID, keyledger.ClientBucket(addr), now) {
		return
	}
	source := SourceOf(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
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
