package verifier

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
)

// TakeUsage returns, and resets, the counts of every key verified since the
// last call: one UsageRecorded per key, for the given minute.
func (x *Index) TakeUsage(minute time.Time, instance string) []*events.UsageRecorded {
	var out []*events.UsageRecorded
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.Lock()
		retired := s.retired
		s.retired = nil
		s.mu.Unlock()
		s.mu.RLock()
		for id, k := range all(s.m, retired) {
			counts := k.usage.Load()
			if counts == nil {
				continue
			}
			var n [numCounters]uint32
			used := false
			for c := range n {
				if n[c] = counts.n[c].Swap(0); n[c] > 0 {
					used = true
				}
			}
			if !used {
				continue
			}
			u := &events.UsageRecorded{
				Meta:  events.Meta{At: x.Now().UTC(), Actor: "system"},
				KeyID: id.String(), Owner: k.owner, Minute: minute.UTC(), Valid: uint64(n[countValid]), Instance: instance,
			}
			for c := countValid + 1; c < numCounters; c++ {
				if n[c] > 0 {
					if u.Denied == nil {
						u.Denied = map[string]uint64{}
					}
					u.Denied[counterCodes[c]] = uint64(n[c])
				}
			}
			if n[countValid] > 0 {
				t := time.Unix(k.lastUsed.Load(), 0).UTC()
				u.LastUsedAt = &t
			}
			u.Sources, u.OtherSources = counts.takeSources()
			out = append(out, u)
		}
		s.mu.RUnlock()
		runtime.Gosched() // a million keys take a while: let verifications in
	}
	return out
}

// all ranges over the keys in the index and those deleted since usage was
// last taken.
func all(live, retired map[ulid.ULID]*entry) func(func(ulid.ULID, *entry) bool) {
	return func(yield func(ulid.ULID, *entry) bool) {
		for _, m := range []map[ulid.ULID]*entry{live, retired} {
			for id, k := range m {
				if !yield(id, k) {
					return
				}
			}
		}
	}
}

// Publisher stores usage events, each under its message ID.
type Publisher interface {
	Publish(ctx context.Context, evs []events.Event, msgIDs []string) error
}

// RecordUsage flushes usage to pub once a minute, and once more when ctx
// ends, until then. Each key's counts for a minute become one event, so
// last_used_at moves at most once a minute per key.
func (x *Index) RecordUsage(ctx context.Context, pub Publisher, instance string, log *slog.Logger) {
	flush := func(minute time.Time, within time.Duration) {
		usage := x.TakeUsage(minute, instance)
		if len(usage) == 0 {
			return
		}
		evs, ids := make([]events.Event, len(usage)), make([]string, len(usage))
		for i, u := range usage {
			evs[i], ids[i] = u, instance+"."+u.KeyID+"."+minute.Format("200601021504")
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), within)
		defer cancel()
		if err := pub.Publish(pctx, evs, ids); err != nil {
			log.Error("recording usage failed; these counts are lost", "keys", len(usage), "minute", minute, "err", err)
		}
	}
	for {
		now := x.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-ctx.Done():
			// The last flush is on the way out: a stream that does not
			// answer must not hold a shutdown past a supervisor's patience
			// (docker stop waits 10 s).
			flush(now.Truncate(time.Minute), 5*time.Second)
			return
		case <-time.After(next.Sub(now)):
			flush(next.Add(-time.Minute), 30*time.Second)
		}
	}
}

// Due is a key the sweeper should record as expired, and why.
type Due struct {
	KeyID, Owner, Reason string
}

// Due lists active keys past their expiry ("ttl") or unused longer than the
// inactivity policy allows ("inactivity"), oldest key first.
func (x *Index) Due(now time.Time) []Due {
	var out []Due
	unix, policy := now.Unix(), x.policy()
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		for id, k := range s.m {
			if _, reason := k.clock().StatusAtUnix(unix, policy); reason != "" {
				out = append(out, Due{KeyID: id.String(), Owner: k.owner, Reason: reason})
			}
		}
		s.mu.RUnlock()
		runtime.Gosched()
	}
	slices.SortFunc(out, func(a, b Due) int { return strings.Compare(a.KeyID, b.KeyID) })
	return out
}

// CountUse counts one valid use of a key that was not a verification (a
// command authenticated with it): it moves the key's last use to now and is
// recorded with the minute's usage like a valid verification.
func (x *Index) CountUse(keyID string) {
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		return
	}
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k := s.m[id]; k != nil {
		k.count(countValid, "")
		k.used(x.Now().Unix())
	}
}

// LastUsed is the key's latest use the index knows of, in Unix seconds (0:
// none, or not in the index).
func (x *Index) LastUsed(keyID string) int64 {
	id, err := ulid.ParseStrict(keyID)
	if err != nil {
		return 0
	}
	s := x.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k := s.m[id]; k != nil {
		return k.lastUsed.Load()
	}
	return 0
}
