package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"golang.org/x/mod/sumdb/note"
)

// Origin is the name of keyledger's log in checkpoints and of its signing keys.
const Origin = "keyledger/KEYLEDGER"

// CheckpointStore appends events with an expected last sequence on a
// subject filter; *events.Store is one.
type CheckpointStore interface {
	Append(ctx context.Context, filter string, expected uint64, msgID string, evs []events.Event) (uint64, error)
}

// Checkpointer appends a signed checkpoint of the stored tree as a
// CheckpointSigned event every Every events, or every Interval when the tree
// grew by anything but checkpoints. Several instances may run one each: the
// append expects the last sequence on the checkpoint subject that this
// instance has projected, so exactly one instance's checkpoint is stored per
// interval and the others' are refused as conflicts.
type Checkpointer struct {
	DB     *sql.DB // ledger.db, where the audit applier keeps the tree
	Store  CheckpointStore
	Signer note.Signer
	// Every and Interval: 1000 events and 60 s unless set.
	Every    uint64
	Interval time.Duration
	// Poll is how often the tree is looked at: 1 s unless set.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// MinGap spaces out the checkpoints Cover signs on demand: 1 s unless
	// set.
	MinGap time.Duration

	init      sync.Once
	coverMu   sync.Mutex
	lastCover time.Time // when Cover last signed
}

// Run checks the tree every Poll until ctx ends.
func (c *Checkpointer) Run(ctx context.Context) {
	c.defaults()
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := c.Once(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		// A stream that cannot be written is logged where it is found;
		// retrying every Poll must not repeat it every second.
		if errors.Is(err, events.ErrUnwritable) && time.Since(warned) < time.Minute {
			continue
		}
		warned = time.Now()
		c.Logger.Warn("audit checkpoint failed; will retry", "err", err)
	}
}

// defaults fills the unset fields, once: Run, Once and Cover may run on
// different goroutines.
func (c *Checkpointer) defaults() { c.init.Do(c.fill) }

func (c *Checkpointer) fill() {
	if c.Every == 0 {
		c.Every = 1000
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.MinGap <= 0 {
		c.MinGap = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Once appends a checkpoint if one is due, and reports whether it did. A
// checkpoint another instance stored first is not an error.
func (c *Checkpointer) Once(ctx context.Context) (bool, error) {
	c.defaults()
	size, err := treeSize(ctx, c.DB)
	if err != nil {
		return false, err
	}
	trail := &Trail{DB: c.DB}
	_, lastSeq, err := trail.LatestCheckpoint(ctx)
	if err != nil {
		return false, err
	}
	grown := uint64(size) - min(lastSeq, uint64(size)) // events since the last checkpoint event
	if grown == 0 {
		return false, nil
	}
	// Witnesses' co-signatures of the last checkpoint are not growth: else
	// each checkpoint would call for the next one, forever.
	var grew bool
	if err := c.DB.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE seq > ? AND action <> 'audit.cosigned')`, lastSeq).Scan(&grew); err != nil {
		return false, fmt.Errorf("audit checkpoint: %w", err)
	}
	if !grew {
		return false, nil
	}
	if grown < c.Every {
		last, err := c.lastAt(ctx, lastSeq)
		if err != nil {
			return false, err
		}
		if c.Now().Sub(last) < c.Interval {
			return false, nil
		}
	}
	seq, err := c.sign(ctx, lastSeq)
	return seq > 0, err
}

// sign signs a checkpoint of the tree and appends it, expecting lastSeq on
// the checkpoint subject. It returns the checkpoint's sequence, or 0 when
// another instance's checkpoint is newer than what this one projected.
func (c *Checkpointer) sign(ctx context.Context, lastSeq uint64) (uint64, error) {
	cp, err := NewHashStore(c.DB).Checkpoint(ctx, Origin)
	if err != nil {
		return 0, err
	}
	signed, err := SignCheckpoint(cp, c.Signer)
	if err != nil {
		return 0, err
	}
	ev := &events.CheckpointSigned{Meta: events.Meta{At: c.Now().UTC(), Actor: "system", Source: "checkpointer"},
		Size: uint64(cp.Size), Note: string(signed)}
	seq, err := c.Store.Append(ctx, events.SubjectCheckpoint, lastSeq, "checkpoint-"+strconv.FormatInt(cp.Size, 10), []events.Event{ev})
	if errors.Is(err, events.ErrConflict) || errors.Is(err, events.ErrDuplicate) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("append checkpoint: %w", err)
	}
	return seq, nil
}

// Cover makes sure a checkpoint covers the event at seq, for a receipt of
// an event newer than the last checkpoint: if the newest projected one does
// not, it signs one of the tree now and returns its sequence (0 when none
// was needed, or another instance's was stored first). On-demand
// checkpoints are at least MinGap apart, so no caller can fill the stream
// with them; a request within the gap waits for it.
func (c *Checkpointer) Cover(ctx context.Context, seq uint64) (uint64, error) {
	c.defaults()
	c.coverMu.Lock()
	defer c.coverMu.Unlock()
	size, lastSeq, err := (&Trail{DB: c.DB}).LatestCheckpoint(ctx)
	if err != nil || size >= seq {
		return 0, err
	}
	if tree, err := treeSize(ctx, c.DB); err != nil {
		return 0, err
	} else if uint64(tree) < seq {
		return 0, keyledger.Errorf(keyledger.ENotFound, "seq %d is not in the log this instance holds (1..%d)", seq, tree)
	}
	// A checkpoint, or a witness's co-signature of one, is covered by the
	// next checkpoint, not by one signed for it: else asking for the newest
	// event (usually one of those) would append a checkpoint every time,
	// and readers could grow the log at will.
	var action string
	if err := c.DB.QueryRowContext(ctx, `SELECT action FROM audit_events WHERE seq = ?`, seq).Scan(&action); err != nil {
		return 0, fmt.Errorf("event %d: %w", seq, err)
	}
	if action == "audit.checkpoint" || action == "audit.cosigned" {
		return 0, nil
	}
	if wait := c.MinGap - time.Since(c.lastCover); wait > 0 {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
	}
	defer func() { c.lastCover = time.Now() }()
	return c.sign(ctx, lastSeq)
}

// lastAt is when the checkpoint at seq was signed (the first event's time
// when there is none yet).
func (c *Checkpointer) lastAt(ctx context.Context, seq uint64) (time.Time, error) {
	var at string
	err := c.DB.QueryRowContext(ctx, `SELECT at FROM audit_events WHERE seq = ?`, max(seq, 1)).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("last checkpoint: %w", err)
	}
	return parseTime(at)
}
