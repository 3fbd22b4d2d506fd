// Package commands decides what happens: pure decide functions turn state, a
// command and the time into events or a typed error, and Service loads the
// owner's aggregate from the event store, decides, appends with the expected
// sequence, and retries on conflict. micro.go serves it over NATS.
package commands

import (
	"slices"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// Key is a key as the decisions see it.
type Key struct {
	ID          string
	Name        string
	Description string
	Status      string
	ExpiresAt   *time.Time
}

// StatusAt is the key's status at now by keyledger.KeyClock: an active key
// past its expiry is expired even before the sweeper records it. The
// aggregate holds neither usage nor settings, so it judges no inactivity
// (and needs no activation time): an idle key is expired here once the
// sweeper has recorded KeyExpired.
func (k *Key) StatusAt(now time.Time) string {
	clock := keyledger.NewKeyClock(k.Status, k.ExpiresAt, time.Time{}, nil, nil)
	status, _ := clock.StatusAtUnix(now.Unix(), keyledger.ExpiryPolicy{})
	return status
}

// Owner is the decision state of one user and all their keys: everything
// stored under keyledger.events.user.<id>.>. Only Apply changes it. The
// commands applied to it are not part of it: they are looked up in SQLite
// (and, until projected, in memory), so that memory does not grow with an
// owner's history.
type Owner struct {
	ID       string
	Exists   bool
	Active   bool
	Name     string
	Kind     string
	Roles    []string
	Keys     map[string]*Key
	KeyOrder []string

	// live holds the keys whose recorded status is active, built when first
	// needed: only they can be active now, so the per-owner limits look at
	// them and not at every key the owner ever held.
	live map[string]*Key
}

// liveKeys returns the keys whose recorded status is active.
func (o *Owner) liveKeys() map[string]*Key {
	if o.live == nil {
		o.live = map[string]*Key{}
		for id, k := range o.Keys {
			if k.Status == keyledger.StatusActive {
				o.live[id] = k
			}
		}
	}
	return o.live
}

// setStatus records a key's status, keeping live current.
func (o *Owner) setStatus(id, status string) {
	k := o.key(id)
	k.Status = status
	if o.live == nil {
		return
	}
	if status == keyledger.StatusActive && o.Keys[id] == k {
		o.live[id] = k
	} else {
		delete(o.live, id)
	}
}

// NewOwner returns the empty aggregate for user id.
func NewOwner(id string) *Owner {
	return &Owner{ID: id, Keys: map[string]*Key{}}
}

// Apply folds one event into the aggregate.
func (o *Owner) Apply(e events.Event) {
	switch e := e.(type) {
	case *events.UserRegistered:
		o.Exists, o.Active, o.Name, o.Kind, o.Roles = true, true, e.Name, e.Kind, e.Roles
	case *events.UserRolesChanged:
		o.Roles = e.Roles
	case *events.UserDeactivated:
		o.Active = false
	case *events.KeyIssued:
		o.Keys[e.KeyID] = &Key{ID: e.KeyID, Name: e.Name, Description: e.Description, ExpiresAt: e.ExpiresAt}
		o.KeyOrder = append(o.KeyOrder, e.KeyID)
		o.setStatus(e.KeyID, keyledger.StatusActive)
	case *events.KeyRenamed:
		k := o.key(e.KeyID)
		k.Name, k.Description = e.Name, e.Description
	case *events.KeyRevoked:
		o.setStatus(e.KeyID, keyledger.StatusRevoked)
	case *events.KeyRegenerated:
		o.setStatus(e.KeyID, keyledger.StatusActive)
	case *events.KeyDeleted:
		o.setStatus(e.KeyID, keyledger.StatusDeleted)
	case *events.KeyExpired:
		o.setStatus(e.KeyID, keyledger.StatusExpired)
	}
}

// key returns the key, or a throwaway one for an event about a key this
// aggregate never issued (which a correct store cannot hold).
func (o *Owner) key(id string) *Key {
	if k, ok := o.Keys[id]; ok {
		return k
	}
	return &Key{ID: id}
}

// ActiveKeys counts keys that are active at now.
func (o *Owner) ActiveKeys(now time.Time) int {
	n := 0
	for _, k := range o.liveKeys() {
		if k.StatusAt(now) == keyledger.StatusActive {
			n++
		}
	}
	return n
}

// HasRole reports whether the owner holds role.
func (o *Owner) HasRole(role string) bool { return slices.Contains(o.Roles, role) }

// Actor is the authenticated caller: a user acting through one of their keys.
type Actor struct {
	UserID string
	KeyID  string
	Roles  []string
	// Source is where the request came from (see WithSource), recorded in
	// the events it causes.
	Source string
}

// System is the actor of decisions keyledger makes itself (bootstrap, expiry).
var System = Actor{UserID: "system", Roles: []string{keyledger.RoleAdmin}}

// Is reports whether the actor holds role.
func (a Actor) Is(role string) bool { return slices.Contains(a.Roles, role) }
