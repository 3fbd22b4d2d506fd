package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

func meta(a Actor, now time.Time) events.Meta {
	return events.Meta{At: now.UTC(), Actor: a.UserID, ActorKey: a.KeyID, Source: a.Source}
}

func requireAdmin(a Actor) error {
	if !a.Is(keyledger.RoleAdmin) {
		return keyledger.Errorf(keyledger.EForbidden, "only an admin may do this")
	}
	return nil
}

// DecideSettings applies a partial policy change to cur and returns the
// SettingsChanged event, or nothing when nothing would change.
func DecideSettings(cur keyledger.Settings, a Actor, c SetSettings, now time.Time) ([]events.Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	next := cur
	next.UpdatedAt, next.UpdatedBy = nil, ""
	if c.Enabled != nil {
		next.Enabled = *c.Enabled
	}
	// "never" and "none" mean the same to a person: each field takes
	// both, and stores its own word.
	if c.MaxExpiry != nil {
		next.MaxExpiry = spelled(*c.MaxExpiry, keyledger.None, keyledger.Never)
	}
	if c.DefaultExpiry != nil {
		next.DefaultExpiry = spelled(*c.DefaultExpiry, keyledger.None, keyledger.Never)
	}
	if c.InactivityExpiry != nil {
		next.InactivityExpiry = spelled(*c.InactivityExpiry, keyledger.Never, keyledger.None)
	}
	if c.MaxActiveKeysPerUser != nil {
		next.MaxActiveKeysPerUser = *c.MaxActiveKeysPerUser
	}
	if err := checkSettings(next, c, now); err != nil {
		return nil, err
	}
	old := cur
	old.UpdatedAt, old.UpdatedBy = nil, ""
	if next == old {
		return nil, nil
	}
	t := now.UTC()
	next.UpdatedAt, next.UpdatedBy = &t, a.UserID
	return []events.Event{&events.SettingsChanged{Meta: meta(a, now), Settings: next}}, nil
}

// Policy bounds. Expiries run from a day to a year (or never); keys unused
// for less than a day would expire between two working days; ten years of
// inactivity is as good as none.
var (
	MinExpiry     = keyledger.MustParsePeriod("P1D")
	MaxExpiry     = keyledger.MustParsePeriod("P365D")
	MinInactivity = keyledger.MustParsePeriod("P1D")
	MaxInactivity = keyledger.MustParsePeriod("P3650D")
)

// spelled is v, or want when v is other, in any case.
func spelled(v, other, want string) string {
	if strings.EqualFold(v, other) || strings.EqualFold(v, want) {
		return want
	}
	return v
}

// checkPolicyPeriod checks a policy period against its bounds; special is
// the word that may stand instead ("never", "none"), or "" for none. Its
// error names the field and the bounds.
func checkPolicyPeriod(field, s, special string, lo, hi keyledger.Period, loText, hiText string) error {
	if special != "" && s == special {
		return nil
	}
	or := ""
	if special != "" {
		or = fmt.Sprintf(", or %q", special)
	}
	p, err := keyledger.ParsePeriod(s)
	if err != nil || p.Compare(lo) < 0 || p.Compare(hi) > 0 {
		return keyledger.Errorf(keyledger.EInvalid, "%s: %s must be a period from %s to %s%s", field, keyledger.Quote(s), loText, hiText, or)
	}
	return nil
}

// checkSettings checks the policy that a change c would leave: bounds for
// the fields c sets (a field set before these bounds existed does not block
// an unrelated change, such as disabling keys), and in any case that every
// period parses and the default expiry is within the maximum.
func checkSettings(s keyledger.Settings, c SetSettings, now time.Time) error {
	if s.MaxActiveKeysPerUser < 1 || s.MaxActiveKeysPerUser > keyledger.MaxActiveKeysLimit {
		return keyledger.Errorf(keyledger.EInvalid, "max_active_keys_per_user must be 1 to %d, not %d", keyledger.MaxActiveKeysLimit, s.MaxActiveKeysPerUser)
	}
	if c.MaxExpiry != nil {
		if err := checkPolicyPeriod("max_expiry", s.MaxExpiry, keyledger.Never, MinExpiry, MaxExpiry, "P1D", "P365D"); err != nil {
			return err
		}
	}
	if c.DefaultExpiry != nil {
		if err := checkPolicyPeriod("default_expiry", s.DefaultExpiry, keyledger.Never, MinExpiry, MaxExpiry, "P1D", "P365D"); err != nil {
			return err
		}
	}
	if c.InactivityExpiry != nil {
		if err := checkPolicyPeriod("inactivity_expiry", s.InactivityExpiry, keyledger.None, MinInactivity, MaxInactivity, "P1D", "P3650D"); err != nil {
			return err
		}
	}
	if s.InactivityExpiry != keyledger.None {
		if _, err := parsePeriodField("inactivity_expiry", s.InactivityExpiry); err != nil {
			return keyledger.Errorf(keyledger.EInvalid, "inactivity_expiry: %s is neither an ISO 8601 period such as P90D nor \"none\"", keyledger.Quote(s.InactivityExpiry))
		}
	}
	if s.MaxExpiry == keyledger.Never {
		if s.DefaultExpiry == keyledger.Never {
			return nil
		}
		_, err := parsePeriodField("default_expiry", s.DefaultExpiry)
		return err
	}
	maxP, err := keyledger.ParsePeriod(s.MaxExpiry)
	if err != nil {
		return keyledger.Errorf(keyledger.EInvalid, "max_expiry: %s is neither an ISO 8601 period such as P180D nor \"never\"", keyledger.Quote(s.MaxExpiry))
	}
	if s.DefaultExpiry == keyledger.Never {
		return keyledger.Errorf(keyledger.EInvalid, "default_expiry may be \"never\" only when max_expiry is \"never\"")
	}
	defP, err := parsePeriodField("default_expiry", s.DefaultExpiry)
	if err != nil {
		return err
	}
	if longer(now, defP, maxP) {
		return keyledger.Errorf(keyledger.EInvalid, "default_expiry %s is longer than max_expiry %s", s.DefaultExpiry, s.MaxExpiry)
	}
	return nil
}

// DecideRegister registers a new user into the empty aggregate o.
func DecideRegister(o *Owner, a Actor, c RegisterUser, now time.Time) ([]events.Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if o.Exists {
		return nil, keyledger.Errorf(keyledger.EConflict, "user %s already exists", c.UserID)
	}
	if err := checkText("name", c.Name, 1, MaxNameLen); err != nil {
		return nil, err
	}
	if err := checkOneScript("name", c.Name); err != nil {
		return nil, err
	}
	if err := checkUserNameShape("name", c.Name); err != nil {
		return nil, err
	}
	kind := c.Kind
	if kind == "" {
		kind = keyledger.KindPerson
	}
	if kind != keyledger.KindPerson && kind != keyledger.KindService {
		return nil, keyledger.Errorf(keyledger.EInvalid, "kind must be person or service, not %q", c.Kind)
	}
	roles, err := normalRoles(c.Roles)
	if err != nil {
		return nil, err
	}
	return []events.Event{&events.UserRegistered{Meta: meta(a, now), UserID: c.UserID, Name: c.Name, Kind: kind, Roles: roles}}, nil
}

func normalRoles(in []string) ([]string, error) {
	if err := checkRoles(in); err != nil {
		return nil, err
	}
	roles := slices.Clone(in)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if roles == nil {
		roles = []string{}
	}
	return roles, nil
}

func activeUser(o *Owner, id string) error {
	if !o.Exists {
		return keyledger.Errorf(keyledger.ENotFound, "user %s not found", id)
	}
	if !o.Active {
		return keyledger.Errorf(keyledger.EConflict, "user %s is deactivated", o.label())
	}
	return nil
}

// DecideRoles replaces a user's roles. An admin cannot remove their own
// admin role: that is how the last admin locks everyone out.
func DecideRoles(o *Owner, a Actor, c ChangeRoles, now time.Time) ([]events.Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if err := activeUser(o, c.UserID); err != nil {
		return nil, err
	}
	roles, err := normalRoles(c.Roles)
	if err != nil {
		return nil, err
	}
	if c.UserID == a.UserID && !slices.Contains(roles, keyledger.RoleAdmin) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "you cannot remove your own admin role; ask another admin")
	}
	if slices.Equal(roles, o.Roles) {
		return nil, nil
	}
	return []events.Event{&events.UserRolesChanged{Meta: meta(a, now), UserID: c.UserID, Roles: roles}}, nil
}

// DecideDeactivate deactivates a user and deletes every key of theirs, as
// one batch: a KeyDeleted per key, then UserDeactivated.
func DecideDeactivate(o *Owner, a Actor, c DeactivateUser, now time.Time) ([]events.Event, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if err := activeUser(o, c.UserID); err != nil {
		return nil, err
	}
	if c.UserID == a.UserID {
		return nil, keyledger.Errorf(keyledger.EInvalid, "you cannot deactivate yourself; ask another admin")
	}
	var evs []events.Event
	for _, id := range o.KeyOrder {
		if o.Keys[id].Status != keyledger.StatusDeleted {
			evs = append(evs, &events.KeyDeleted{Meta: meta(a, now), KeyID: id, Owner: o.ID, Reason: "owner deactivated"})
		}
	}
	if len(evs)+1 > events.MaxBatch {
		return nil, keyledger.Errorf(keyledger.ELimitReached,
			"user %s has %d keys, more than one atomic step can delete; run `keyledger key delete --owner %s --all` first", o.ID, len(evs), o.ID)
	}
	return append(evs, &events.UserDeactivated{Meta: meta(a, now), UserID: c.UserID}), nil
}
