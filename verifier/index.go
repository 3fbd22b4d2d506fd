// Package verifier answers "is this API key valid?" from memory, in
// microseconds and without allocating. The same Index serves keyledger's own
// verify endpoints (loaded from ledger.db, fed by the projector; served by
// web and commands) and gateways (package gateway follows the event stream).
// It holds secret hashes only, and imports no transport: when a key ends is
// decided by keyledger.KeyClock.
package verifier

import (
	"encoding/hex"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

const shardCount = 64

// Index is the in-memory verify index. The zero value is not ready: use
// NewIndex.
type Index struct {
	// Now is the clock verifications and expiry are judged by.
	Now func() time.Time
	// Observe, if set, sees the code of every verification ("" for valid):
	// the server counts them in its metrics. Set it before verifying.
	Observe func(code string)
	// RecordedInactivity, if set, refuses a key for inactivity only once
	// its expiry is recorded (KeyExpired), rather than by this index's own
	// idea of its last use. Set it, before verifying, where the index does
	// not see every use of its keys: a gateway sees its own verifications
	// alone, and would end a key used every day elsewhere (or before the
	// gateway started) as idle. keyledger's sweeper records inactivity
	// within --sweep-every, from every instance's and gateway's usage.
	RecordedInactivity bool

	shards     [shardCount]shard
	seq        atomic.Uint64
	enabled    atomic.Bool
	refusing   atomic.Uint32 // halted | suspended bits: every verification answers CodeUnavailable
	inactivity atomic.Int64  // keyledger.ExpiryPolicy.Inactivity
	strings    interner
}

type shard struct {
	mu sync.RWMutex
	m  map[ulid.ULID]*entry
	// early holds end events (revoked, expired, deleted) that arrived, by
	// notification, before the key itself: the key's issue, arriving later
	// from the stream, takes the ending status instead of coming back active.
	early map[ulid.ULID]tombstone
	// retired holds deleted keys whose usage has not been taken yet, so
	// that uses counted in the minute a key is deleted are still recorded.
	retired map[ulid.ULID]*entry
}

// remove takes a key out of the index, keeping its untaken usage.
func (s *shard) remove(id ulid.ULID) {
	if k, ok := s.m[id]; ok && k.usage.Load() != nil {
		if s.retired == nil {
			s.retired = map[ulid.ULID]*entry{}
		}
		s.retired[id] = k
	}
	delete(s.m, id)
}

type tombstone struct {
	seq    uint64
	status uint8 // revoked, expired, or gone (deleted)
}

// status of an entry.
const (
	active uint8 = iota
	revoked
	expired
	gone // deleted: removed from the index
)

// entry is one key: about 112 bytes, so a million fit in well under 300 MB.
// Fields other than the atomics change only under the shard's write lock.
type entry struct {
	hash     [32]byte
	owner    string  // interned
	limits   *limits // shared by every key with the same scopes and networks
	limiter  *bucket // nil without a rate limit
	expires  int64   // unix seconds; 0: never
	since    int64   // unix seconds the key last became active (issue or regenerate)
	seq      uint64  // last event applied
	lastUsed atomic.Int64
	usage    atomic.Pointer[counters] // allocated on first use
	status   uint8
}

// limits are a key's scopes and allowed networks; read-only once built.
type limits struct {
	scopes []string
	cidrs  []netip.Prefix
}

// MaxSources is how many distinct source addresses a key's usage records per
// minute; attempts from further addresses are counted together.
const MaxSources = 8

// counters are one key's verifications since usage was last taken, and the
// addresses they came from.
type counters struct {
	n   [numCounters]atomic.Uint32
	mu  sync.Mutex
	src [MaxSources]source
	// other counts attempts from addresses beyond the first MaxSources.
	other uint32
}

// source is one address and how many attempts came from it.
type source struct {
	addr netip.Addr
	n    uint32
}

// count adds one verification with the given outcome, from the address ip
// if the caller named a valid one. It allocates only a key's first time.
func (k *entry) count(outcome int, ip string) {
	c := k.usage.Load()
	if c == nil {
		c = new(counters)
		if !k.usage.CompareAndSwap(nil, c) {
			c = k.usage.Load()
		}
	}
	c.n[outcome].Add(1)
	if ip == "" {
		return
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	addr = addr.Unmap().WithZone("")
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.src {
		switch {
		case c.src[i].n == 0:
			c.src[i] = source{addr: addr, n: 1}
			return
		case c.src[i].addr == addr:
			c.src[i].n++
			return
		}
	}
	c.other++
}

// takeSources returns and resets the addresses counted since the last call.
func (c *counters) takeSources() (map[string]uint64, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]uint64
	for i := range c.src {
		if c.src[i].n == 0 {
			break
		}
		if out == nil {
			out = map[string]uint64{}
		}
		out[c.src[i].addr.String()] = uint64(c.src[i].n)
		c.src[i] = source{}
	}
	other := uint64(c.other)
	c.other = 0
	return out, other
}

// NewIndex returns an empty index that judges time by the real clock.
func NewIndex() *Index {
	x := &Index{Now: time.Now, strings: interner{m: map[string]string{}, sets: map[string]*limits{}}}
	for i := range x.shards {
		x.shards[i].m = map[ulid.ULID]*entry{}
		x.shards[i].early = map[ulid.ULID]tombstone{}
	}
	x.enabled.Store(false)
	return x
}

func (x *Index) shard(id ulid.ULID) *shard { return &x.shards[id[15]%shardCount] }

// Seq is the last stream sequence the index has applied.
func (x *Index) Seq() uint64 { return x.seq.Load() }

// SetSeq records that the index holds everything up to seq.
func (x *Index) SetSeq(seq uint64) {
	for {
		cur := x.seq.Load()
		if seq <= cur || x.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Bits of Index.refusing.
const (
	halted uint32 = 1 << iota
	suspended
)

// Halt makes every later verification answer CodeUnavailable: whoever
// feeds the index has stopped, so it would no longer hear of revocations.
// It cannot be undone; a new feed starts with a new index.
func (x *Index) Halt() { x.refusing.Or(halted) }

// Halted reports whether Halt was called.
func (x *Index) Halted() bool { return x.refusing.Load()&halted != 0 }

// Suspend makes verifications answer CodeUnavailable until Resume, as Halt
// does for good: for a while the feed cannot vouch for the index (a
// gateway cut off from the stream for longer than it may be).
func (x *Index) Suspend() { x.refusing.Or(suspended) }

// Resume ends a Suspend (not a Halt).
func (x *Index) Resume() { x.refusing.And(^suspended) }

// SetPolicy sets what the settings say about verification.
func (x *Index) SetPolicy(s keyledger.Settings) {
	x.enabled.Store(s.Enabled)
	x.inactivity.Store(keyledger.PolicyOf(s).Inactivity)
}

// policy is the expiry policy keys are judged by now.
func (x *Index) policy() keyledger.ExpiryPolicy {
	if x.RecordedInactivity {
		return keyledger.ExpiryPolicy{}
	}
	return keyledger.ExpiryPolicy{Inactivity: x.inactivity.Load()}
}

// statusNames are the keyledger statuses of an entry's status.
var statusNames = [...]string{active: keyledger.StatusActive, revoked: keyledger.StatusRevoked, expired: keyledger.StatusExpired,
	gone: keyledger.StatusDeleted}

// clock is what keyledger.KeyClock needs to judge the key.
func (k *entry) clock() keyledger.KeyClock {
	return keyledger.KeyClock{Status: statusNames[k.status], ExpiresAt: k.expires, ActiveSince: k.since, LastUsedAt: k.lastUsed.Load()}
}

// Len is the number of keys held.
func (x *Index) Len() int {
	n := 0
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Put loads one key as the projections hold it (at start).
func (x *Index) Put(c *keyledger.Credential) {
	id, err := ulid.ParseStrict(c.KeyID)
	if err != nil || c.Status == keyledger.StatusDeleted || !c.OwnerActive {
		return
	}
	clock := c.Clock()
	e := &entry{owner: x.strings.get(c.Owner), since: clock.ActiveSince, expires: clock.ExpiresAt}
	e.limits, e.limiter = x.strings.limits(c.Scopes, c.AllowedCIDRs), newBucket(c.RateLimit)
	if _, err := hex.Decode(e.hash[:], []byte(c.SecretHash)); err != nil {
		return
	}
	switch c.Status {
	case keyledger.StatusRevoked:
		e.status = revoked
	case keyledger.StatusExpired:
		e.status = expired
	}
	e.lastUsed.Store(clock.LastUsedAt)
	s := x.shard(id)
	s.mu.Lock()
	s.m[id] = e
	s.mu.Unlock()
}

// Apply folds one stored event into the index. Events may arrive twice or,
// from notifications, ahead of older ones: each key keeps the sequence of
// the last event applied and ignores anything older.
func (x *Index) Apply(r events.Recorded) {
	switch e := r.Event.(type) {
	case *events.SettingsChanged:
		x.SetPolicy(e.Settings)
	case *events.KeyIssued:
		x.update(e.KeyID, r.Seq, true, func(k *entry) {
			k.owner, k.since = x.strings.get(e.Owner), e.At.Unix()
			_, _ = hex.Decode(k.hash[:], []byte(e.SecretHash))
			k.limits, k.limiter = x.strings.limits(e.Scopes, e.AllowedCIDRs), newBucket(e.RateLimit)
			if e.ExpiresAt != nil {
				k.expires = e.ExpiresAt.Unix()
			}
		})
	case *events.KeyRegenerated:
		x.update(e.KeyID, r.Seq, false, func(k *entry) {
			_, _ = hex.Decode(k.hash[:], []byte(e.SecretHash))
			k.status, k.since = active, e.At.Unix()
		})
	case *events.KeyRevoked:
		x.end(e.KeyID, r.Seq, revoked)
	case *events.KeyExpired:
		x.end(e.KeyID, r.Seq, expired)
	case *events.KeyDeleted:
		x.end(e.KeyID, r.Seq, gone)
	case *events.UsageRecorded:
		x.used(e)
	}
}

// locked runs f with the key's shard write-locked; IDs that are not ULIDs
// cannot be in the index and are ignored.
func (x *Index) locked(keyID string, f func(s *shard, id ulid.ULID)) {
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		return
	}
	s := x.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s, id)
}

// update changes (or, with create, adds) the key.
func (x *Index) update(keyID string, seq uint64, create bool, f func(*entry)) {
	x.locked(keyID, func(s *shard, id ulid.ULID) { s.update(id, seq, create, f) })
}

func (s *shard) update(id ulid.ULID, seq uint64, create bool, f func(*entry)) {
	k, ok := s.m[id]
	switch {
	case !ok && !create:
		return
	case !ok:
		k = &entry{}
	case seq != 0 && k.seq >= seq:
		return
	}
	f(k)
	k.seq = seq
	if t, early := s.early[id]; early && t.seq > seq {
		if t.status == gone {
			// The tombstone stays until the stream delivers the deletion.
			s.remove(id)
			return
		}
		delete(s.early, id)
		k.status, k.seq = t.status, t.seq
	}
	s.m[id] = k
}

// end marks a key revoked or expired, or removes it (gone).
func (x *Index) end(keyID string, seq uint64, status uint8) {
	x.locked(keyID, func(s *shard, id ulid.ULID) { s.end(id, seq, status) })
}

func (s *shard) end(id ulid.ULID, seq uint64, status uint8) {
	k, ok := s.m[id]
	switch {
	case !ok:
		if t, seen := s.early[id]; seq == t.seq && seen {
			delete(s.early, id) // the stream caught up with the notification
		} else if seq > t.seq {
			s.early[id] = tombstone{seq: seq, status: status}
		}
	case seq != 0 && k.seq >= seq:
	case status == gone:
		s.remove(id)
	default:
		k.status, k.seq = status, seq
	}
}

// used moves a key's last use forward from another instance's usage record.
func (x *Index) used(u *events.UsageRecorded) {
	if u.LastUsedAt == nil {
		return
	}
	id, err := ulid.ParseStrict(u.KeyID)
	if err != nil {
		return
	}
	s := x.shard(id)
	s.mu.RLock()
	k := s.m[id]
	s.mu.RUnlock()
	if k == nil {
		return
	}
	k.used(u.LastUsedAt.Unix())
}

// used moves the key's last use forward to t (Unix seconds), never back.
func (k *entry) used(t int64) {
	for cur := k.lastUsed.Load(); t > cur && !k.lastUsed.CompareAndSwap(cur, t); cur = k.lastUsed.Load() {
	}
}

// interner shares one copy of what many keys repeat: owners, and sets of
// scopes and networks.
type interner struct {
	mu   sync.Mutex
	m    map[string]string
	sets map[string]*limits
}

// limits returns the shared limits for scopes and cidrs.
func (in *interner) limits(scopes, cidrs []string) *limits {
	var buf [256]byte
	key := buf[:0]
	for _, s := range scopes {
		key = append(append(key, s...), ' ')
	}
	key = append(key, '|')
	for _, c := range cidrs {
		key = append(append(key, c...), ' ')
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if l, ok := in.sets[string(key)]; ok {
		return l
	}
	l := &limits{scopes: append([]string(nil), scopes...)}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			l.cidrs = append(l.cidrs, p)
		}
	}
	in.sets[string(key)] = l
	return l
}

func (in *interner) get(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	in.m[s] = s
	return s
}
