package verifier

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/netip"
	"slices"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/oklog/ulid/v2"
)

// Result codes of a verification that failed.
const (
	CodeNotFound     = "not_found"
	CodeMalformed    = "malformed"
	CodeRevoked      = "revoked"
	CodeExpired      = "expired"
	CodeForbiddenIP  = "forbidden_ip"
	CodeMissingScope = "missing_scope"
	CodeRateLimited  = "rate_limited"
	CodeDisabled     = "disabled"
	// CodeUnavailable: the index was halted (Halt) or is suspended
	// (Suspend); it answers nothing
	// rather than answer from state that no longer hears of revocations.
	CodeUnavailable = "unavailable"
)

// Counters kept per key and minute: valid uses, and denials by reason.
const (
	countValid = iota
	countNotFound
	countRevoked
	countExpired
	countForbiddenIP
	countMissingScope
	countRateLimited
	countDisabled
	numCounters
)

var counterCodes = [numCounters]string{"valid", CodeNotFound, CodeRevoked, CodeExpired, CodeForbiddenIP, CodeMissingScope, CodeRateLimited, CodeDisabled}

// Result is the answer to a verification. Seq is the stream sequence it
// holds at, so a caller can tell how fresh it is: the index had applied the
// stream in order up to it, or, when this instance applied the key's own
// last event sooner (a command it served), that event's sequence. Either
// way the key's state as of seq (as_of "seq:N") is the one answered from.
type Result struct {
	Valid     bool      `json:"valid"`
	Code      string    `json:"code,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	Owner     string    `json:"owner,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Seq       uint64    `json:"seq"`
}

// Verify checks a token, and optionally that the key grants scope and may
// be used from ip. It allocates nothing. A wrong secret for a real key is
// not_found, and counted against that key as a failed attempt, but not
// from ip: only callers holding the secret name where the key was used.
func (x *Index) Verify(token, scope, ip string) Result {
	res := x.verify(token, scope, ip)
	if x.Observe != nil {
		x.Observe(res.Code)
	}
	return res
}

func (x *Index) verify(token, scope, ip string) Result {
	res := Result{Seq: x.seq.Load()}
	if x.refusing.Load() != 0 {
		res.Code = CodeUnavailable
		return res
	}
	keyID, secret, ok := keyledger.ParseToken(token)
	if !ok {
		res.Code = CodeMalformed
		return res
	}
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		res.Code = CodeMalformed
		return res
	}
	var buf [64]byte
	sum := sha256.Sum256(buf[:copy(buf[:], secret)])
	now := x.Now()
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.m[id]
	if k == nil {
		res.Code = CodeNotFound
		return res
	}
	if subtle.ConstantTimeCompare(sum[:], k.hash[:]) != 1 {
		// Counted without its address: whoever guesses at a key ID names
		// any ip they like, and the key would look used from there
		// (`key revoke --used-from` would end it).
		return k.deny(&res, countNotFound, "")
	}
	res.KeyID, res.Owner, res.Seq = keyID, k.owner, max(res.Seq, k.seq)
	if k.expires != 0 {
		res.ExpiresAt = time.Unix(k.expires, 0).UTC()
	}
	unix := now.Unix()
	status, _ := k.clock().StatusAtUnix(unix, x.policy())
	switch {
	case !x.enabled.Load():
		return k.deny(&res, countDisabled, ip)
	case status == keyledger.StatusRevoked:
		return k.deny(&res, countRevoked, ip)
	case status != keyledger.StatusActive:
		return k.deny(&res, countExpired, ip)
	case scope != "" && !slices.Contains(k.limits.scopes, scope):
		return k.deny(&res, countMissingScope, ip)
	case len(k.limits.cidrs) > 0 && !allowed(k.limits.cidrs, ip):
		return k.deny(&res, countForbiddenIP, ip)
	case k.limiter != nil && !k.limiter.take(now):
		return k.deny(&res, countRateLimited, ip)
	}
	k.count(countValid, ip)
	if k.lastUsed.Load() < unix {
		k.lastUsed.Store(unix)
	}
	res.Valid, res.Scopes = true, k.limits.scopes
	return res
}

func (k *entry) deny(res *Result, reason int, ip string) Result {
	k.count(reason, ip)
	res.Code = counterCodes[reason]
	return *res
}

func allowed(cidrs []netip.Prefix, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return allowedAddr(cidrs, addr)
}

// allowedAddr reports whether addr is inside one of cidrs; the zero
// address (unknown) is inside none.
func allowedAddr(cidrs []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range cidrs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
