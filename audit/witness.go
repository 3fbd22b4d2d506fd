package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyledger/keyledger/events"
	"golang.org/x/mod/sumdb/note"
)

// ErrWitnessRefused is wrapped by every error Witness.Once returns for a
// checkpoint it will not co-sign: not signed by the log, a root that is not
// the root of the tree this instance computed, or a tree that does not
// extend the checkpoint the witness co-signed before.
var ErrWitnessRefused = errors.New("witness refused the checkpoint")

// Witness co-signs the log's checkpoints as one instance, the way tlog
// witnesses do: each instance computes the tree from the stream itself, so
// a checkpoint it co-signs is one whose root it found on its own. It signs
// the newest checkpoint in the stream when
//
//   - the log's key (Log) signed it,
//   - its root is the root of this instance's tree at its size, and
//   - this tree still has, at the size of the last checkpoint the witness
//     co-signed, the root it co-signed then: the log only grew.
//
// and stores the co-signed note as a CheckpointCosigned event. The last
// checkpoint it co-signed is kept in StatePath, apart from ledger.db, so
// rebuilding ledger.db from a replaced stream cannot make it forget. One
// goroutine runs it (Run, or Once in turn).
type Witness struct {
	DB     *sql.DB // ledger.db, where the audit applier keeps the tree
	Store  CheckpointStore
	Signer note.Signer // the witness's own key, not the log's
	// VerifierKey is Signer's verifier key, stored in each co-signature so
	// that checkers can tell witnesses apart.
	VerifierKey string
	Log         note.Verifiers // the log's verifier key
	StatePath   string         // the last checkpoint co-signed (C2SP text)
	// Poll is how often the newest checkpoint is looked at: 1 s unless set.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	last    *Checkpoint // the last co-signed, once read from StatePath
	loaded  bool
	refused uint64 // the checkpoint event last refused, not logged again
}

// Run co-signs every Poll until ctx ends.
func (w *Witness) Run(ctx context.Context) {
	poll := w.Poll
	if poll <= 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.logger().Error("audit witness: not co-signing", "err", err)
		}
	}
}

func (w *Witness) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

// Once co-signs the newest checkpoint projected if it has not yet, and
// reports whether it stored a co-signature. A checkpoint it refuses is an
// error wrapping ErrWitnessRefused the first time it is seen, and skipped
// quietly after.
func (w *Witness) Once(ctx context.Context) (bool, error) {
	if err := w.load(); err != nil {
		return false, err
	}
	var seq uint64
	var detail string
	err := w.DB.QueryRowContext(ctx, `SELECT seq, detail FROM audit_events WHERE action = 'audit.checkpoint' ORDER BY seq DESC LIMIT 1`).Scan(&seq, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("audit witness: latest checkpoint: %w", err)
	}
	if seq == w.refused {
		return false, nil
	}
	var cp checkpointDetail
	if err := json.Unmarshal([]byte(detail), &cp); err != nil {
		return false, fmt.Errorf("audit witness: checkpoint at seq %d: %w", seq, err)
	}
	if w.last != nil && int64(cp.Size) < w.last.Size {
		return false, w.refuse(seq, "the log's newest checkpoint (size %d) is older than the one this witness co-signed (size %d)", cp.Size, w.last.Size)
	}
	sc, err := OpenCheckpoint([]byte(cp.Note), w.Log)
	if err != nil {
		return false, w.refuse(seq, "%v", err)
	}
	if w.last != nil && sc.Size == w.last.Size {
		if sc.Root != w.last.Root {
			return false, w.refuse(seq, "the checkpoint of size %d has root %s, but this witness co-signed root %s for that size", sc.Size, sc.Root, w.last.Root)
		}
		return false, nil // co-signed already
	}
	hs := NewHashStore(w.DB)
	root, err := hs.TreeHead(ctx, sc.Size)
	if err != nil {
		return false, fmt.Errorf("audit witness: tree at %d: %w", sc.Size, err)
	}
	if root != sc.Root {
		return false, w.refuse(seq, "the checkpoint of size %d has root %s, this instance computed %s from the stream", sc.Size, sc.Root, root)
	}
	if w.last != nil {
		old, err := hs.TreeHead(ctx, w.last.Size)
		if err != nil {
			return false, fmt.Errorf("audit witness: tree at %d: %w", w.last.Size, err)
		}
		if old != w.last.Root {
			return false, w.refuse(seq, "this instance's tree has root %s at size %d, where this witness co-signed %s: the log was not only appended to", old, w.last.Size, w.last.Root)
		}
	}
	signed, err := CosignCheckpoint([]byte(cp.Note), w.Log, w.Signer)
	if err != nil {
		return false, w.refuse(seq, "%v", err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ev := &events.CheckpointCosigned{Meta: events.Meta{At: now().UTC(), Actor: "system", Source: "witness " + w.Signer.Name()},
		Size: uint64(sc.Size), Witness: w.VerifierKey, Note: string(signed)}
	msgID := "cosign-" + strconv.FormatInt(sc.Size, 10) + "-" + strconv.FormatUint(uint64(w.Signer.KeyHash()), 16)
	_, err = w.Store.Append(ctx, "", 0, msgID, []events.Event{ev})
	stored := err == nil
	if err != nil && !errors.Is(err, events.ErrDuplicate) {
		return false, fmt.Errorf("audit witness: append co-signature: %w", err)
	}
	if err := w.save(sc.Checkpoint); err != nil {
		return false, err
	}
	return stored, nil
}

// refuse remembers the checkpoint at seq as refused and says why.
func (w *Witness) refuse(seq uint64, format string, args ...any) error {
	w.refused = seq
	return fmt.Errorf("audit: %w at seq %d: %s", ErrWitnessRefused, seq, fmt.Sprintf(format, args...))
}

// load reads the last co-signed checkpoint from StatePath, once.
func (w *Witness) load() error {
	if w.loaded {
		return nil
	}
	b, err := os.ReadFile(w.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		w.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit witness: state: %w", err)
	}
	c, err := ParseCheckpoint(b)
	if err != nil {
		return fmt.Errorf("audit witness: state %s: %w", w.StatePath, err)
	}
	w.last, w.loaded = &c, true
	return nil
}

// save replaces StatePath with c's text, durably: a new file written and
// synced, then renamed over the old.
func (w *Witness) save(c Checkpoint) error {
	c.Extensions = nil
	tmp, err := os.CreateTemp(filepath.Dir(w.StatePath), ".witness-state-*")
	if err != nil {
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(c.Text()); err != nil {
		tmp.Close()
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), w.StatePath); err != nil {
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	w.last = &c
	return nil
}
