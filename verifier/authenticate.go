package verifier

import (
	"net/netip"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/oklog/ulid/v2"
)

// Authenticate judges a key presented for a management call rather than a
// verification: that p proves its current secret (the token's secret, or
// the tag of the secret a NATS connection was authorized with), and that the key is active now under the expiry
// policy, by the same rule as Verify; it does not ask whether keys are
// enabled for verification, so that admins can always enable them. A key
// with allowed_cidrs must be used from inside them (from: the caller's
// address; the zero Addr, unknown, is inside none). A key that passes
// counts as one valid use; one that is right but used from outside its
// networks counts as forbidden_ip, not as a use, and owner names its owner
// with ok false. found is false when the index holds no key keyID (it may
// have been issued a moment ago on another instance).
func (x *Index) Authenticate(keyID string, p keyledger.Proof, from netip.Addr) (owner string, found, ok bool) {
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		return "", false, false
	}
	unix := x.Now().Unix()
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.m[id]
	if k == nil {
		return "", false, false
	}
	if !p.Holds(k.hash) {
		return "", true, false
	}
	if status, _ := k.clock().StatusAtUnix(unix, x.policy()); status != keyledger.StatusActive {
		return "", true, false
	}
	if k.limits != nil && len(k.limits.cidrs) > 0 && !allowedAddr(k.limits.cidrs, from) {
		k.count(countForbiddenIP, "")
		return k.owner, true, false
	}
	k.count(countValid, "")
	k.used(unix)
	return k.owner, true, true
}

// StatusOf returns the status of key keyID now ("active", "revoked",
// "expired") if the index holds it and p proves its current secret, else
// "": for telling a key's holder why it was refused, which Verify tells
// whoever holds the token too.
func (x *Index) StatusOf(keyID string, p keyledger.Proof) string {
	var status string
	x.read(keyID, func(k *entry) {
		if p.Holds(k.hash) {
			status, _ = k.clock().StatusAtUnix(x.Now().Unix(), x.policy())
		}
	})
	return status
}

// Owner returns the owner of a key the index holds, whatever its status:
// a command on a key just issued on this instance finds its owner here
// before the projections hold the key.
func (x *Index) Owner(keyID string) (owner string, found bool) {
	found = x.read(keyID, func(k *entry) { owner = k.owner })
	return owner, found
}

// ExpiresAt returns the expiry of a key the index holds (nil: never): the
// auth callout limits a connection made with the key to it.
func (x *Index) ExpiresAt(keyID string) (exp *time.Time, found bool) {
	found = x.read(keyID, func(k *entry) {
		if k.expires != 0 {
			t := time.Unix(k.expires, 0).UTC()
			exp = &t
		}
	})
	return exp, found
}

// read runs f on the key with its shard read-locked, and reports whether
// the index holds the key.
func (x *Index) read(keyID string, f func(*entry)) bool {
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		return false
	}
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.m[id]
	if k != nil {
		f(k)
	}
	return k != nil
}
