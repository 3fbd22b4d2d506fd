package keyledger

import "time"

// This file is the one rule for when a key stops working. Every reader (the
// verify index, the projections in Go and in SQL, the command state, the
// expiry sweeper) asks KeyClock; none writes the rule again.
//
// Which policy changes reach keys that already exist:
//   - InactivityExpiry is judged when the key is read, with the policy in
//     force then: setting it, shortening it or turning it off ("none")
//     applies at once to every existing key.
//   - MaxExpiry and DefaultExpiry are applied once, when a key is issued, and
//     stored as its expires_at: changing them never moves an existing key's
//     expiry (an expiry can never be extended, and is not shortened either).
//   - Enabled=false refuses every verification and command that needs keys,
//     and does not change any key's status.

// Expiry reasons, as recorded in KeyExpired.
const (
	ExpiredTTL        = "ttl"        // past expires_at
	ExpiredInactivity = "inactivity" // unused longer than the policy allows
)

// ExpiryPolicy is what the settings say about when keys end, in the form
// KeyClock needs. The zero value has no inactivity limit.
type ExpiryPolicy struct {
	// Inactivity is how many whole seconds a key may sit unused before it
	// expires; 0: no limit.
	Inactivity int64
}

// PolicyOf reads the expiry policy from the settings. An inactivity period
// that does not parse (which DecideSettings never stores) means no limit.
func PolicyOf(s Settings) ExpiryPolicy {
	if s.InactivityExpiry == None || s.InactivityExpiry == "" {
		return ExpiryPolicy{}
	}
	p, err := ParsePeriod(s.InactivityExpiry)
	if err != nil {
		return ExpiryPolicy{}
	}
	return ExpiryPolicy{Inactivity: p.Seconds()}
}

// KeyClock is what decides when a key stops working, in whole Unix seconds:
// the rule is judged to the second, the same in memory, in Go and in SQL.
type KeyClock struct {
	// Status is the status as recorded by events: active, expired, revoked
	// or deleted.
	Status string
	// ExpiresAt is when the key's own expiry passes; 0: never.
	ExpiresAt int64
	// ActiveSince is when the key last became active: its issue, or its
	// latest regenerate. The inactivity clock starts here.
	ActiveSince int64
	// LastUsedAt is the key's latest use (a valid verification, or a command
	// authenticated with it); 0: never used.
	LastUsedAt int64
}

// NewKeyClock builds a clock from times as the read models hold them;
// regeneratedAt is nil for a key that was never regenerated.
func NewKeyClock(status string, expiresAt *time.Time, createdAt time.Time, regeneratedAt, lastUsedAt *time.Time) KeyClock {
	k := KeyClock{Status: status, ActiveSince: createdAt.Unix()}
	if expiresAt != nil {
		k.ExpiresAt = expiresAt.Unix()
	}
	if regeneratedAt != nil {
		k.ActiveSince = max(k.ActiveSince, regeneratedAt.Unix())
	}
	if lastUsedAt != nil {
		k.LastUsedAt = lastUsedAt.Unix()
	}
	return k
}

// End is the key's effective expiry in Unix seconds (0: never): the earlier
// of its own expiry and the moment it will have sat unused for the policy's
// inactivity limit, counted from its last use or from when it last became
// active, whichever is later.
func (k KeyClock) End(p ExpiryPolicy) int64 {
	end := k.ExpiresAt
	if p.Inactivity > 0 {
		idle := max(k.LastUsedAt, k.ActiveSince) + p.Inactivity
		if end == 0 || idle < end {
			end = idle
		}
	}
	return end
}

// StatusAtUnix is the key's effective status at now (Unix seconds), and why
// it expired when time alone ended it (ExpiredTTL or ExpiredInactivity; ""
// otherwise). Only an active key changes with time: an active key whose
// effective expiry has come is expired. It allocates nothing.
func (k KeyClock) StatusAtUnix(now int64, p ExpiryPolicy) (status, reason string) {
	if k.Status != StatusActive {
		return k.Status, ""
	}
	switch {
	case k.ExpiresAt != 0 && now >= k.ExpiresAt:
		return StatusExpired, ExpiredTTL
	case p.Inactivity > 0 && now >= max(k.LastUsedAt, k.ActiveSince)+p.Inactivity:
		return StatusExpired, ExpiredInactivity
	}
	return StatusActive, ""
}

// StatusAt is the key's effective status at now and its effective expiry
// (nil: never).
func (k KeyClock) StatusAt(now time.Time, p ExpiryPolicy) (string, *time.Time) {
	status, _ := k.StatusAtUnix(now.Unix(), p)
	var end *time.Time
	if e := k.End(p); e != 0 {
		t := time.Unix(e, 0).UTC()
		end = &t
	}
	return status, end
}

// ExpiredByTimeCutoffs are the two instants a SQL filter for "an active key
// that time has ended" compares stored text times against, derived from the
// same rule as StatusAtUnix: a key is expired at now when
// expires_at < ExpiresBefore, or (with an inactivity limit) when the later
// of its last use and its last activation is < IdleBefore. Stored times
// carry milliseconds; the rule counts whole seconds, hence the +1s.
func (p ExpiryPolicy) ExpiredByTimeCutoffs(now time.Time) (expiresBefore time.Time, idleBefore *time.Time) {
	sec := now.Unix()
	expiresBefore = time.Unix(sec+1, 0).UTC()
	if p.Inactivity > 0 {
		t := time.Unix(sec-p.Inactivity+1, 0).UTC() // in Unix seconds: no Duration to overflow
		idleBefore = &t
	}
	return expiresBefore, idleBefore
}
