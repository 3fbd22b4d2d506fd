package commands

import (
	"container/list"
	"context"
	"sync"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// StateSource refills the decision state of an aggregate that is not in
// memory: each answer is one consistent snapshot of the projections, tagged
// with the last stream sequence of the aggregate's subjects that it holds.
type StateSource interface {
	OwnerState(ctx context.Context, id string) (*Owner, uint64, error)
	SettingsState(ctx context.Context) (keyledger.Settings, uint64, error)
	// CommandOutcome reports whether a command was applied to an aggregate
	// ("settings", or an owner's ID), and the key it last touched.
	CommandOutcome(ctx context.Context, aggregate, cmdID string) (keyRef string, applied bool, err error)
}

// DefaultMaxCachedKeys bounds the keys held in memory for decisions; owners
// beyond it are dropped least recently used first and refilled from SQLite.
const DefaultMaxCachedKeys = 200_000

// aggregates is the decision state of every owner this instance has decided
// on recently, and of the settings, kept current by the stream follower
// (observe) and by the commands' own appends. Each entry is tagged with the
// last sequence of its subjects: a command decides on it and appends with that
// sequence expected, so stale state costs a retry, never a wrong decision.
type aggregates struct {
	source  StateSource
	maxKeys int

	// mu guards the map, the LRU list and the key count. It is also held
	// while an entry is filled from SQLite, and while the follower applies a
	// batch, so a refill never misses a batch the projections committed
	// just after it read them.
	mu     sync.Mutex
	owners map[string]*entry
	lru    *list.List // of *entry, most recent first
	keys   int

	settings *entry
}

// entry is one aggregate in memory. turn (a one-slot semaphore, so a wait
// for it ends with the caller's context) serializes the commands of this
// instance on it (decide, append, apply), so they queue instead of racing to
// a conflict; mu guards the state against the follower.
type entry struct {
	turn chan struct{}

	mu       sync.Mutex
	id       string // owner ID, or "settings"
	owner    *Owner
	settings keyledger.Settings
	seq      uint64
	// pending maps the IDs of commands applied in memory but not yet
	// committed to SQLite (where CommandOutcome finds them) to the key each
	// last touched.
	pending map[string]string
	loaded  bool
	elem    *list.Element
	size    int // keys counted against maxKeys
}

const settingsAggregate = "settings"

func newAggregates(src StateSource, maxKeys int) *aggregates {
	return &aggregates{source: src, maxKeys: maxKeys, owners: map[string]*entry{}, lru: list.New(),
		settings: &entry{id: settingsAggregate, pending: map[string]string{}, turn: make(chan struct{}, 1)}}
}

// owner returns the entry of owner id, filled from SQLite if it was not in
// memory.
func (g *aggregates) owner(ctx context.Context, id string) (*entry, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.owners[id]; ok {
		g.lru.MoveToFront(e.elem)
		g.resize(e)
		g.evict()
		return e, nil
	}
	o, seq, err := g.source.OwnerState(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &entry{id: id, owner: o, seq: seq, pending: map[string]string{}, loaded: true, turn: make(chan struct{}, 1)}
	e.elem = g.lru.PushFront(e)
	g.owners[id] = e
	g.resize(e)
	g.evict()
	return e, nil
}

// cachedName returns the name of user id if its entry is in memory, without
// filling one from SQLite.
func (g *aggregates) cachedName(id string) (string, bool) {
	g.mu.Lock()
	e, ok := g.owners[id]
	g.mu.Unlock()
	if !ok {
		return "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owner == nil || !e.owner.Exists {
		return "", false
	}
	return e.owner.Name, true
}

// resize recounts the keys an owner entry holds against the bound. Callers
// hold g.mu.
func (g *aggregates) resize(e *entry) {
	e.mu.Lock()
	n := 1 + len(e.owner.Keys)
	e.mu.Unlock()
	g.keys += n - e.size
	e.size = n
}

// evict drops least recently used owners until the cache is within bounds.
// An entry a command is still using stays valid for that command; the next
// one refills from SQLite.
func (g *aggregates) evict() {
	for g.keys > g.maxKeys && g.lru.Len() > 1 {
		e := g.lru.Remove(g.lru.Back()).(*entry)
		delete(g.owners, e.id)
		g.keys -= e.size
	}
}

// settingsEntry returns the settings aggregate, filled from SQLite once.
func (g *aggregates) settingsEntry(ctx context.Context) (*entry, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.settings
	if e.loaded {
		return e, nil
	}
	s, seq, err := g.source.SettingsState(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.settings, e.seq, e.loaded = s, seq, true
	e.mu.Unlock()
	return e, nil
}

// observe applies a batch the projections committed to the aggregates in
// memory. Commands it carries are in SQLite now, so they leave pending.
func (g *aggregates) observe(batch []events.Recorded) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range batch {
		var e *entry
		switch owner := r.Event.OwnerID(); {
		case owner != "":
			e = g.owners[owner]
		case isSettingsEvent(r.Event):
			e = g.settings
		}
		if e == nil {
			continue
		}
		e.mu.Lock()
		if e.loaded {
			e.apply(r)
			delete(e.pending, r.Event.Base().CommandID)
		}
		e.mu.Unlock()
		if e.owner != nil {
			g.resize(e)
		}
	}
	g.evict()
}

func isSettingsEvent(ev events.Event) bool {
	_, ok := ev.(*events.SettingsChanged)
	return ok
}

// apply folds one stored event into the entry if it is newer than what the
// entry holds. Callers hold mu.
func (e *entry) apply(r events.Recorded) {
	if r.Seq <= e.seq {
		return
	}
	e.seq = r.Seq
	if id := r.Event.Base().CommandID; id != "" {
		e.pending[id] = r.Event.KeyRef()
	}
	if e.owner == nil {
		if s, ok := r.Event.(*events.SettingsChanged); ok {
			e.settings = s.Settings
		}
		return
	}
	e.owner.Apply(r.Event)
}

// applyAll folds events this instance just appended, stored from sequence
// first on, into the entry.
func (e *entry) applyAll(evs []events.Event, first uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, ev := range evs {
		e.apply(events.Recorded{Seq: first + uint64(i), Event: ev})
	}
}

// catchUp reads what other writers appended to the aggregate since the entry's
// sequence (direct gets; no consumer) and applies it.
func (e *entry) catchUp(ctx context.Context, store EventStore, filter string) error {
	e.mu.Lock()
	from := e.seq
	e.mu.Unlock()
	recs, err := store.After(ctx, filter, from)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range recs {
		e.apply(r)
	}
	return nil
}
