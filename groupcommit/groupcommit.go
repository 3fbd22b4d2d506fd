// Package groupcommit makes what an embedded JetStream server writes durable
// with one fsync for many writes, the way databases commit a group of
// transactions with one flush.
//
// nats-server's sync_always fsyncs every message on its own, one after
// another, so a stream on a disk that syncs in 300 µs stores at most about
// 3,000 messages a second, however many writers wait. Run the server without
// it instead (it still writes each message to its block file before it
// acknowledges it; only the fsync is left to a timer), and call Sync after an
// acknowledgement and before telling anyone of the write: Sync returns once
// an fsync covering every write acknowledged before the call has finished,
// and every caller waiting meanwhile shares it. A caller with nothing new to
// cover (the block file is as the last fsync found it) does not wait for
// another: a command's projection does not cost a second fsync.
//
// The Syncer fsyncs the streams' newest block files and, when a block is
// added, their directory: it knows nats-server's file store layout
// (<store>/jetstream/<account>/streams/<stream>/msgs/<n>.blk), and Open
// refuses a store laid out otherwise, so a server upgrade that changes it
// fails loudly at start rather than syncing nothing.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrFailed marks a failed fsync. A Syncer that failed once fails every
// later Sync: after a failed fsync the kernel may have dropped the writes it
// could not store, so nothing written since can be promised either, and the
// way on is a restart (nats-server then recovers what the disk holds).
var ErrFailed = errors.New("groupcommit: fsync failed")

// ErrClosed is what Sync returns after Close.
var ErrClosed = errors.New("groupcommit: closed")

// Syncer groups the fsyncs of one stream's files. Open returns one; Sync
// is safe for concurrent use.
type Syncer struct {
	blocks *blocks

	mu      sync.Mutex
	next    *round // the round the next Sync joins; it starts after the call
	running bool   // a round is syncing now
	current *round // the round syncing now, once it has measured the block
	covered pos    // what the last successful round made durable
	failed  error  // the first failure (or ErrClosed), returned from then on
	closed  bool
	rounds  uint64 // rounds finished
	calls   uint64 // Sync calls that joined a round
}

// round is one fsync of the stream that a group of Sync calls waits for.
type round struct {
	done    chan struct{}
	err     error
	waiters int // Sync calls that took this round; guarded by Syncer.mu
	covers  pos // the block as it stood before this round's fsync
}

// Open finds the block directory of the stream under storeDir (the
// server's StoreDir) and syncs what it holds now, so that what the server
// wrote before this process took over is durable too. The stream must
// exist. Close releases the file it keeps open.
func Open(storeDir, stream string) (*Syncer, error) {
	dirs, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", stream, "msgs"))
	if err != nil {
		return nil, fmt.Errorf("groupcommit: %w", err)
	}
	if len(dirs) != 1 {
		return nil, fmt.Errorf("groupcommit: stream %s: found %d block directories under %s, want 1 "+
			"(has nats-server's file layout changed?)", stream, len(dirs), storeDir)
	}
	b := &blocks{name: stream, dir: dirs[0], fsync: (*os.File).Sync}
	if err := b.open(); err != nil {
		return nil, err
	}
	return &Syncer{blocks: b, next: newRound()}, nil
}

func newRound() *round { return &round{done: make(chan struct{})} }

// Sync returns once every write the server acknowledged before the call is
// on disk: it waits for an fsync that began after the call, unless the
// newest block file is as a finished or running fsync found it (nothing was
// written since), in which case that fsync suffices. Callers arriving while
// a round runs share the next one. A context that ends first returns its
// error; the round still runs for the others.
func (s *Syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return s.failed
	}
	covered, current := s.covered, s.current
	s.mu.Unlock()
	if covered.unchanged(s.blocks.dir) {
		return nil
	}
	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return s.failed
	}
	r := s.next
	if current != nil && current == s.current && current.covers.unchanged(s.blocks.dir) {
		r = current // the running fsync began after everything there is
	}
	r.waiters++
	s.calls++
	if !s.running {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run syncs round after round while callers wait for one.
func (s *Syncer) run() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = newRound()
		s.mu.Unlock()

		measured := func(p pos) {
			s.mu.Lock()
			r.covers, s.current = p, r
			s.mu.Unlock()
		}
		covered, err := s.blocks.sync(time.Now(), measured)

		s.mu.Lock()
		s.current = nil
		if err != nil && s.failed == nil {
			s.failed = fmt.Errorf("%w: stream %s: %w", ErrFailed, s.blocks.name, err)
		}
		if s.failed == nil {
			s.covered = covered
		}
		r.err = s.failed
		s.rounds++
		close(r.done)
		// Callers that came while this round ran wait for the next one.
		if s.next.waiters == 0 {
			s.running = false
			if s.closed {
				s.blocks.close()
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// Stats returns how many Sync calls waited for an fsync and how many fsync
// rounds served them: under load, far fewer rounds than calls. Calls that
// found nothing new to cover are in neither.
func (s *Syncer) Stats() (calls, rounds uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.rounds
}

// Close releases the block file the Syncer keeps open (once a round
// running now ends); Sync returns ErrClosed from then on.
func (s *Syncer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = ErrClosed
	}
	s.closed = true
	if s.running {
		return nil // run closes it as it stops
	}
	return s.blocks.close()
}
