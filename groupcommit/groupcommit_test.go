package groupcommit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// storeDir is the StoreDir ns was started with (the JetStream directory is
// its "jetstream" child).
func storeDir(ns *server.Server) string { return filepath.Dir(ns.JetStreamConfig().StoreDir) }

// openStream starts a server that syncs on a timer only, as group commit
// wants, and creates stream S on it.
func openStream(t *testing.T, cfg jetstream.StreamConfig) (*server.Server, jetstream.JetStream) {
	t.Helper()
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns)
	cfg.Name, cfg.Subjects, cfg.Storage = "S", []string{"s.>"}, jetstream.FileStorage
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return ns, js
}

// recorder is an fsync that notes which files it synced.
type recorder struct {
	mu    sync.Mutex
	paths []string
}

func (r *recorder) fsync(f *os.File) error {
	r.mu.Lock()
	r.paths = append(r.paths, f.Name())
	r.mu.Unlock()
	return f.Sync()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.paths
	r.paths = nil
	return p
}

func TestSyncCoversTheBlockHoldingTheLastWrite(t *testing.T) {
	// The block files are where nats-server keeps a message, and Sync must
	// fsync the one that holds the message just acknowledged, or it
	// promises what a power cut would take back. The stream's blocks are
	// small (32 kB, from MaxBytes), so 2,000 messages cross many of them.
	ns, js := openStream(t, jetstream.StreamConfig{MaxBytes: 100_000, Discard: jetstream.DiscardOld})
	ctx := context.Background()
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s.blocks.fsync = rec.fsync
	blocks := map[string]bool{}
	for i := range 2000 {
		payload := fmt.Appendf(nil, "message-%06d-%s", i, bytes.Repeat([]byte("x"), 300))
		if _, err := js.Publish(ctx, "s.x", payload); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		synced := rec.take()
		holder := ""
		for _, p := range synced {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, payload) {
				holder = p
			}
		}
		if holder == "" {
			t.Fatalf("message %d: none of the files synced (%v) holds it", i, synced)
		}
		if !blocks[holder] {
			blocks[holder] = true
			if i > 0 && !contains(synced, filepath.Dir(holder)) {
				t.Fatalf("message %d went to a new block %s, but its directory was not synced (%v)", i, holder, synced)
			}
		}
	}
	if len(blocks) < 10 {
		t.Fatalf("2,000 messages went to %d blocks; the test wants many", len(blocks))
	}
}

func TestSyncAfterRestartFindsTheNewestBlock(t *testing.T) {
	// A Syncer opened on a store that holds blocks already must go on from
	// the newest, not from the first.
	ns, js := openStream(t, jetstream.StreamConfig{MaxBytes: 100_000, Discard: jetstream.DiscardOld})
	ctx := context.Background()
	for range 500 {
		if _, err := js.Publish(ctx, "s.x", bytes.Repeat([]byte("y"), 300)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s.blocks.fsync = rec.fsync
	payload := []byte("the-newest-message")
	if _, err := js.Publish(ctx, "s.x", payload); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range rec.take() {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, payload) {
			return
		}
	}
	t.Fatal("no file synced holds the message written after Open")
}

func TestSyncWaitsForARoundThatBeganAfterIt(t *testing.T) {
	// A round already running may have begun before the caller's write:
	// the caller must wait for the next one, and callers meanwhile share it.
	ns, js := openStream(t, jetstream.StreamConfig{})
	if _, err := js.Publish(context.Background(), "s.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 100), make(chan struct{})
	s.blocks.fsync = func(f *os.File) error {
		entered <- struct{}{}
		<-release
		return nil
	}
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- s.Sync(ctx) }()
	<-entered // round 1 is inside its fsync
	// A write acknowledged now is past what round 1 measured.
	if _, err := js.Publish(ctx, "s.x", []byte("y")); err != nil {
		t.Fatal(err)
	}

	const late = 50
	lateDone := make(chan error, late)
	for range late {
		go func() { lateDone <- s.Sync(ctx) }()
	}
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.next.waiters == late
	})
	release <- struct{}{} // round 1 done (one file: the stream's one block)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-entered // round 2 began
	select {
	case <-lateDone:
		t.Fatal("a Sync that came while round 1 ran returned when round 1 ended")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for range late {
		if err := <-lateDone; err != nil {
			t.Fatal(err)
		}
	}
	if _, n := s.Stats(); n != 2 {
		t.Fatalf("%d callers took %d rounds, want 2", late+1, n)
	}
}

func TestSyncWithNothingNewTakesNoFsyncOfItsOwn(t *testing.T) {
	// A command's projection calls Sync for the write the command already
	// synced: it must not cost another fsync (one-at-a-time commands would
	// pay two each), yet a caller that comes during a round, with nothing
	// written since that round measured the block, still waits for it.
	ns, js := openStream(t, jetstream.StreamConfig{})
	ctx := context.Background()
	if _, err := js.Publish(ctx, "s.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if calls, rounds := s.Stats(); calls != 1 || rounds != 1 {
		t.Fatalf("a write then 100 Syncs with nothing new: %d waits over %d rounds, want 1 and 1", calls, rounds)
	}

	entered, release := make(chan struct{}, 10), make(chan struct{})
	s.blocks.fsync = func(f *os.File) error {
		entered <- struct{}{}
		<-release
		return f.Sync()
	}
	if _, err := js.Publish(ctx, "s.x", []byte("z")); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.Sync(ctx) }()
	<-entered // the round measured the block with "z" in it and is syncing
	second := make(chan error, 1)
	go func() { second <- s.Sync(ctx) }()
	select {
	case err := <-second:
		t.Fatalf("a Sync during the fsync that covers its write returned before it ended (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if calls, rounds := s.Stats(); calls != 3 || rounds != 2 {
		t.Fatalf("two callers of one round: %d waits over %d rounds, want 3 and 2", calls, rounds)
	}
}

func TestAFailedFsyncFailsEverySyncAfter(t *testing.T) {
	ns, js := openStream(t, jetstream.StreamConfig{})
	ctx := context.Background()
	if _, err := js.Publish(ctx, "s.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	fail := true
	s.blocks.fsync = func(f *os.File) error {
		if fail {
			fail = false
			return errors.New("EIO")
		}
		return nil
	}
	if err := s.Sync(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync with a failing fsync: %v, want ErrFailed", err)
	}
	if err := s.Sync(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after a failed one: %v, want ErrFailed still", err)
	}
}

func TestOpenRefusesAStoreItCannotFind(t *testing.T) {
	ns, _ := openStream(t, jetstream.StreamConfig{})
	if _, err := Open(storeDir(ns), "NOPE"); err == nil {
		t.Fatal("Open of a stream the store does not hold succeeded")
	}
	if _, err := Open(t.TempDir(), "S"); err == nil {
		t.Fatal("Open of an empty directory succeeded")
	}
}

func TestSyncEndsWithItsContext(t *testing.T) {
	ns, js := openStream(t, jetstream.StreamConfig{})
	if _, err := js.Publish(context.Background(), "s.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	s.blocks.fsync = func(*os.File) error { <-release; return nil }
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with a stuck disk and a deadline: %v", err)
	}
}

func TestSyncAfterCloseIsRefused(t *testing.T) {
	ns, _ := openStream(t, jetstream.StreamConfig{})
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}

func TestAnEmptyStreamsFirstBlockIsSynced(t *testing.T) {
	// Opened before the stream holds any message: the round after the
	// first one syncs the block that holds it.
	ns, js := openStream(t, jetstream.StreamConfig{})
	s, err := Open(storeDir(ns), "S")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s.blocks.fsync = rec.fsync
	if _, err := js.Publish(context.Background(), "s.x", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	for _, p := range got {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("first")) {
			return
		}
	}
	t.Fatalf("synced %v; none holds the first message", got)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
