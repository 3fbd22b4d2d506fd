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
	// RevokedByOther is set while the key is revoked, if someone other
	// than its owner (an admin) revoked it. A bool, not the revoker's ID:
	// it fits the struct's padding, and a million keys stay in memory.
	RevokedByOther bool
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
	live *liveSet
}

// label names the owner in messages: "alice (01J…)", or the ID alone.
func (o *Owner) label() string {
	if o.Name == "" {
		return o.ID
	}
	return o.Name + " (" + o.ID + ")"
}

// liveSet is the keys whose recorded status is active, indexed so that the
// per-owner limits cost the same for an owner of 1,000 keys as of one: a
// count per name, and the earliest expiry among them. Until that expiry every
// one is active, so neither limit needs to look at the keys themselves; only
// between a key's expiry and the sweeper recording it do they scan.
type liveSet struct {
	keys  map[string]*Key
	names map[string]int // live keys per name
	// minExpiry is the earliest expiry (Unix seconds) among keys, 0 when
	// none expires; recomputed when stale (its key left the set).
	minExpiry int64
	stale     bool
}

func newLiveSet() *liveSet {
	return &liveSet{keys: map[string]*Key{}, names: map[string]int{}}
}

func (l *liveSet) add(k *Key) {
	if old, ok := l.keys[k.ID]; ok {
		if old == k {
			return
		}
		l.remove(old)
	}
	l.keys[k.ID] = k
	l.names[k.Name]++
	if k.ExpiresAt != nil && !l.stale {
		if e := k.ExpiresAt.Unix(); l.minExpiry == 0 || e < l.minExpiry {
			l.minExpiry = e
		}
	}
}

func (l *liveSet) remove(key *Key) {
	k, ok := l.keys[key.ID]
	if !ok {
		return
	}
	delete(l.keys, k.ID)
	if l.names[k.Name]--; l.names[k.Name] <= 0 {
		delete(l.names, k.Name)
	}
	if k.ExpiresAt != nil && k.ExpiresAt.Unix() <= l.minExpiry {
		l.stale = true
	}
}

// allActive reports whether every live key is still active at now.
func (l *liveSet) allActive(now time.Time) bool {
	if l.stale {
		l.minExpiry, l.stale = 0, false
		for _, k := range l.keys {
			if k.ExpiresAt != nil {
				if e := k.ExpiresAt.Unix(); l.minExpiry == 0 || e < l.minExpiry {
					l.minExpiry = e
				}
			}
		}
	}
	return l.minExpiry == 0 || now.Unix() < l.minExpiry
}

// liveKeys returns the keys whose recorded status is active.
func (o *Owner) liveKeys() *liveSet {
	if o.live == nil {
		o.live = newLiveSet()
		for _, k := range o.Keys {
			if k.Status == keyledger.StatusActive {
				o.live.add(k)
			}
		}
	}
	return o.live
}

// setStatus records a key's status, keeping live current.
func (o *Owner) setStatus(id, status string) {
	k := o.key(id)
	if o.live != nil && o.Keys[id] == k {
		if status == keyledger.StatusActive {
			o.live.add(k)
		} else {
			o.live.remove(k)
		}
	}
	k.Status = status
}

// rename changes a key's name, keeping live's name counts current.
func (o *Owner) rename(k *Key, name string) {
	if o.live == nil || o.live.keys[k.ID] != k {
		k.Name = name
		return
	}
	o.live.remove(k)
	k.Name = name
	o.live.add(k)
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
		o.rename(k, e.Name)
		k.Description = e.Description
	case *events.KeyRevoked:
		o.setStatus(e.KeyID, keyledger.StatusRevoked)
		o.key(e.KeyID).RevokedByOther = e.Actor != o.ID
	case *events.KeyRegenerated:
		o.setStatus(e.KeyID, keyledger.StatusActive)
		o.key(e.KeyID).RevokedByOther = false
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
	live := o.liveKeys()
	if live.allActive(now) {
		return len(live.keys)
	}
	n := 0
	for _, k := range live.keys {
		if k.StatusAt(now) == keyledger.StatusActive {
			n++
		}
	}
	return n
}

// NameTaken reports whether a key other than except is active at now under
// name: names are unique among an owner's active keys.
func (o *Owner) NameTaken(name, except string, now time.Time) bool {
	live := o.liveKeys()
	n := live.names[name]
	if k, ok := live.keys[except]; ok && k.Name == name {
		n--
	}
	if n <= 0 {
		return false
	}
	if live.allActive(now) {
		return true
	}
	for _, k := range live.keys {
		if k.ID != except && k.Name == name && k.StatusAt(now) == keyledger.StatusActive {
			return true
		}
	}
	return false
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
