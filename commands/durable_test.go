package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
)

// diskGate stands for a disk that syncs only when the test says so.
type diskGate struct {
	calls   chan struct{}
	release chan error
}

func newDiskGate() *diskGate {
	return &diskGate{calls: make(chan struct{}, 100), release: make(chan error)}
}

func (g *diskGate) sync(ctx context.Context) error {
	g.calls <- struct{}{}
	select {
	case err := <-g.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns once something waits for the disk.
func (g *diskGate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing waited for the disk")
	}
}

func TestACommandRepliesOnlyOnceItsWriteIsOnDisk(t *testing.T) {
	// With group commit the stream acknowledges a write before it is
	// synced: the caller must not see the new key (its token) until it is.
	l := newLedger(t)
	gate := newDiskGate()
	l.svc.Durable = gate.sync
	ctx := context.Background()
	replied := make(chan error, 1)
	go func() {
		_, err := l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Name: "ci"})
		replied <- err
	}()
	gate.wait(t) // stored, waiting for the disk
	select {
	case err := <-replied:
		t.Fatalf("the issue replied (%v) before its write was synced", err)
	case <-time.After(100 * time.Millisecond):
	}
	gate.release <- nil
	if err := <-replied; err != nil {
		t.Fatal(err)
	}

	// A disk that fails: the caller hears that the write is not known to
	// be durable, as unavailable (a retry with the same command ID is
	// recognised), not that it succeeded.
	go func() {
		_, err := l.svc.IssueKey(ctx, l.admin, "", commands.IssueKey{Name: "ci-2"})
		replied <- err
	}()
	gate.wait(t)
	gate.release <- errors.New("EIO")
	if err := <-replied; keyledger.ErrorCode(err) != keyledger.EUnavailable {
		t.Fatalf("issue on a failing disk: %v, want unavailable", err)
	}
}
