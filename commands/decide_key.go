package commands

import (
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// mayManageKeys checks that a may change keys owned by owner: admins any,
// developers their own.
func mayManageKeys(a Actor, owner string) error {
	switch {
	case a.Is(keyledger.RoleAdmin):
		return nil
	case !a.Is(keyledger.RoleDeveloper):
		return keyledger.Errorf(keyledger.EForbidden, "your roles do not allow managing keys")
	case owner != a.UserID:
		return keyledger.Errorf(keyledger.EForbidden, "developers manage only their own keys")
	}
	return nil
}

// mayManageSome checks that a may change some keys at all: the check that
// needs only the actor, made before anything is read.
func mayManageSome(a Actor) error {
	if !a.Is(keyledger.RoleAdmin) && !a.Is(keyledger.RoleDeveloper) {
		return keyledger.Errorf(keyledger.EForbidden, "your roles do not allow managing keys")
	}
	return nil
}

// keyFor finds a key of o that a may change.
func keyFor(o *Owner, a Actor, keyID string) (*Key, error) {
	notFound := keyledger.Errorf(keyledger.ENotFound, "key %s not found", keyID)
	if err := mayManageKeys(a, o.ID); err != nil {
		if a.Is(keyledger.RoleDeveloper) {
			// Another owner's key answers as one that does not exist.
			return nil, notFound
		}
		return nil, err
	}
	k, ok := o.Keys[keyID]
	if !ok {
		return nil, notFound
	}
	return k, nil
}

// DecideIssue issues a key to o under policy s.
func DecideIssue(s keyledger.Settings, o *Owner, a Actor, c IssueKey, now time.Time) ([]events.Event, error) {
	if !s.Enabled {
		return nil, keyledger.Errorf(keyledger.EDisabled, "API keys are disabled; an admin enables them with `keyledger settings set --enabled`")
	}
	if err := mayManageKeys(a, o.ID); err != nil {
		return nil, err
	}
	if err := activeUser(o, o.ID); err != nil {
		return nil, err
	}
	if err := checkKeyName(c.Name); err != nil {
		return nil, err
	}
	if err := checkText("description", c.Description, 0, MaxDescriptionLen); err != nil {
		return nil, err
	}
	if o.NameTaken(c.Name, "", now) {
		return nil, keyledger.Errorf(keyledger.EConflict, "name: %s already has an active key named %q", o.label(), c.Name)
	}
	if err := checkScopes(c.Scopes); err != nil {
		return nil, err
	}
	cidrs, err := normalizeCIDRs(c.AllowedCIDRs)
	if err != nil {
		return nil, err
	}
	if err := checkRateLimit(c.RateLimit); err != nil {
		return nil, err
	}
	exp, err := issueExpiry(s, c, now)
	if err != nil {
		return nil, err
	}
	if n := o.ActiveKeys(now); n >= s.MaxActiveKeysPerUser {
		return nil, keyledger.Errorf(keyledger.ELimitReached, "%s already has %d active keys, the most policy allows", o.label(), n)
	}
	return []events.Event{&events.KeyIssued{
		Meta: meta(a, now), KeyID: c.KeyID, Owner: o.ID, Name: c.Name, Description: c.Description,
		Scopes: c.Scopes, AllowedCIDRs: cidrs, RateLimit: c.RateLimit, ExpiresAt: exp, SecretHash: c.SecretHash,
	}}, nil
}

// issueExpiry picks the expiry of a new key: asked for, or the policy
// default, and in any case between a minute from now and the policy maximum.
// nil means the key never expires.
func issueExpiry(s keyledger.Settings, c IssueKey, now time.Time) (*time.Time, error) {
	now = now.UTC().Truncate(time.Second)
	var exp *time.Time
	field, given := "expires_at", "" // what the caller gave, for the errors
	at := func(t time.Time) *time.Time { t = t.UTC().Truncate(time.Second); return &t }
	switch {
	case c.ExpiresAt != nil && c.ExpiresIn != "":
		return nil, keyledger.Errorf(keyledger.EInvalid, "give expires_at or expires_in, not both")
	case c.ExpiresAt != nil:
		exp = at(*c.ExpiresAt)
	case c.ExpiresIn == keyledger.Never:
	case c.ExpiresIn != "":
		p, err := parsePeriodField("expires_in", c.ExpiresIn)
		if err != nil {
			return nil, err
		}
		exp = at(p.AddTo(now))
		field, given = "expires_in", c.ExpiresIn+" ends "
	case s.DefaultExpiry == keyledger.Never:
	default:
		p, err := parsePeriodField("default_expiry", s.DefaultExpiry)
		if err != nil {
			return nil, err
		}
		exp = at(p.AddTo(now))
		field, given = "default_expiry", s.DefaultExpiry+" ends "
	}
	if exp == nil {
		if s.MaxExpiry != keyledger.Never {
			return nil, keyledger.Errorf(keyledger.EInvalid, "expires_in: keys must expire within max_expiry %s", s.MaxExpiry)
		}
		return nil, nil
	}
	if exp.Before(now.Add(time.Minute)) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "%s: must be at least one minute from now", field)
	}
	if limit := now.AddDate(keyledger.MaxPeriodYears, 0, 0); exp.After(limit) {
		// A NATS user's expiry is a duration from now: past about 292
		// years it overflows, and the key could not connect.
		return nil, keyledger.Errorf(keyledger.EInvalid, "%s: at most %d years from now (latest %s); for no expiry give expires_in never",
			field, keyledger.MaxPeriodYears, limit.Format(time.RFC3339))
	}
	if s.MaxExpiry != keyledger.Never {
		p, err := parsePeriodField("max_expiry", s.MaxExpiry)
		if err != nil {
			return nil, err
		}
		if limit := p.AddTo(now); exp.After(limit) {
			return nil, keyledger.Errorf(keyledger.EInvalid, "%s: %s%s, past max_expiry %s (latest %s)",
				field, given, exp.Format(time.RFC3339), s.MaxExpiry, limit.Format(time.RFC3339))
		}
	}
	return exp, nil
}

// DecideUpdate renames a key or changes its description; nothing else about
// a key can change.
func DecideUpdate(o *Owner, a Actor, c UpdateKey, now time.Time) ([]events.Event, error) {
	k, err := keyFor(o, a, c.KeyID)
	if err != nil {
		return nil, err
	}
	if k.Status == keyledger.StatusDeleted {
		return nil, keyledger.Errorf(keyledger.EConflict, "key %s is deleted", c.KeyID)
	}
	name, desc := k.Name, k.Description
	if c.Name != nil {
		name = *c.Name
		if err := checkKeyName(name); err != nil {
			return nil, err
		}
	}
	if c.Description != nil {
		desc = *c.Description
	}
	if err := checkText("name", name, 1, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("description", desc, 0, MaxDescriptionLen); err != nil {
		return nil, err
	}
	if name == k.Name && desc == k.Description {
		return nil, nil
	}
	if name != k.Name && k.StatusAt(now) == keyledger.StatusActive && o.NameTaken(name, k.ID, now) {
		return nil, keyledger.Errorf(keyledger.EConflict, "name: %s already has an active key named %q", o.label(), name)
	}
	return []events.Event{&events.KeyRenamed{Meta: meta(a, now), KeyID: k.ID, Owner: o.ID, Name: name, Description: desc}}, nil
}

// DecideRevoke revokes one active key.
func DecideRevoke(o *Owner, a Actor, keyID, reason string, now time.Time) ([]events.Event, error) {
	k, err := keyFor(o, a, keyID)
	if err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, 0, MaxReasonLen); err != nil {
		return nil, err
	}
	if st := k.StatusAt(now); st != keyledger.StatusActive {
		return nil, keyledger.Errorf(keyledger.EConflict, "key %s is %s; only active keys can be revoked", keyID, st)
	}
	return []events.Event{&events.KeyRevoked{Meta: meta(a, now), KeyID: keyID, Owner: o.ID, Reason: reason}}, nil
}

// DecideRegenerate gives a revoked key a new secret; it keeps its ID and
// its expiry, and counts against the active-key limit again. A key revoked
// by someone other than its owner (an admin) only an admin may regenerate.
func DecideRegenerate(s keyledger.Settings, o *Owner, a Actor, c RegenerateKey, now time.Time) ([]events.Event, error) {
	if !s.Enabled {
		return nil, keyledger.Errorf(keyledger.EDisabled, "API keys are disabled")
	}
	k, err := keyFor(o, a, c.KeyID)
	if err != nil {
		return nil, err
	}
	if err := activeUser(o, o.ID); err != nil {
		return nil, err
	}
	if k.Status != keyledger.StatusRevoked {
		return nil, keyledger.Errorf(keyledger.EConflict, "key %s is %s; only revoked keys can be regenerated", c.KeyID, k.StatusAt(now))
	}
	if k.RevokedByOther && !a.Is(keyledger.RoleAdmin) {
		// An admin's revocation answers an incident; the holder of another
		// of the owner's keys must not be able to undo it.
		return nil, keyledger.Errorf(keyledger.EForbidden, "key %s was revoked by an admin, not by its owner; only an admin may regenerate it", c.KeyID)
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return nil, keyledger.Errorf(keyledger.EConflict, "key %s expired at %s and expiry never extends; issue a new key", c.KeyID, k.ExpiresAt.Format(time.RFC3339))
	}
	if o.NameTaken(k.Name, k.ID, now) {
		return nil, keyledger.Errorf(keyledger.EConflict, "name: %s already has another active key named %q; rename one first", o.label(), k.Name)
	}
	if n := o.ActiveKeys(now); n >= s.MaxActiveKeysPerUser {
		return nil, keyledger.Errorf(keyledger.ELimitReached, "%s already has %d active keys, the most policy allows", o.label(), n)
	}
	return []events.Event{&events.KeyRegenerated{Meta: meta(a, now), KeyID: k.ID, Owner: o.ID, SecretHash: c.SecretHash}}, nil
}

// DecideDelete ends one key for good, with the reason given (or
// "deleted").
func DecideDelete(o *Owner, a Actor, keyID, reason string, now time.Time) ([]events.Event, error) {
	k, err := keyFor(o, a, keyID)
	if err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, 0, MaxReasonLen); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "deleted"
	}
	if k.Status == keyledger.StatusDeleted {
		return nil, keyledger.Errorf(keyledger.EConflict, "key %s is already deleted", keyID)
	}
	return []events.Event{&events.KeyDeleted{Meta: meta(a, now), KeyID: keyID, Owner: o.ID, Reason: reason}}, nil
}

// DecideDeleteAll deletes up to limit of o's keys that are not deleted yet,
// with the reason given (or "deleted with all of the owner's keys"); the
// caller repeats until it returns no events.
func DecideDeleteAll(o *Owner, a Actor, limit int, reason string, now time.Time) ([]events.Event, error) {
	if err := mayManageKeys(a, o.ID); err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, 0, MaxReasonLen); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "deleted with all of the owner's keys"
	}
	if !o.Exists {
		return nil, keyledger.Errorf(keyledger.ENotFound, "user %s not found", o.ID)
	}
	var evs []events.Event
	for _, id := range o.KeyOrder {
		if len(evs) == limit {
			break
		}
		if o.Keys[id].Status != keyledger.StatusDeleted {
			evs = append(evs, &events.KeyDeleted{Meta: meta(a, now), KeyID: id, Owner: o.ID, Reason: reason})
		}
	}
	return evs, nil
}
