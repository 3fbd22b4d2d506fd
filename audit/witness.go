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
	"sync"
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
	// Ready, if set, is closed once the projections hold what the stream
	// held at start: Run waits for it, so that the witness finds its own
	// latest co-signature and the newest checkpoint.
	Ready <-chan struct{}

	loaded  bool
	refused uint64 // the checkpoint event last refused, not logged again

	mu      sync.Mutex  // guards last and problem, which Status reads
	last    *Checkpoint // the last co-signed, once read from StatePath
	problem error       // why it is not co-signing, until it co-signs again
}

// Status returns the size of the last checkpoint the witness co-signed (0
// before any) and, while it is not co-signing, why.
func (w *Witness) Status() (size int64, problem error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil {
		size = w.last.Size
	}
	return size, w.problem
}

func (w *Witness) setLast(c *Checkpoint, problem error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c != nil {
		w.last = c
	}
	w.problem = problem
}

// ErrWitnessState is wrapped by Open's errors for a state file this
// witness cannot use: malformed, or written for another witness key.
var ErrWitnessState = errors.New("witness state unusable")

// Run co-signs every Poll until ctx ends. A witness whose state it cannot
// use says so once and co-signs nothing; other failures to Open are
// retried.
func (w *Witness) Run(ctx context.Context) {
	if w.Ready != nil {
		select {
		case <-ctx.Done():
			return
		case <-w.Ready:
		}
	}
	poll := w.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for {
		err := w.Open(ctx)
		if err == nil {
			break
		}
		w.logger().Error("audit witness: not co-signing", "err", err)
		if errors.Is(err, ErrWitnessState) {
			return // an operator must act; Status says why
		}
		select { // the database may answer again
		case <-ctx.Done():
			return
		case <-time.After(10 * poll):
		}
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
	if err := w.Open(ctx); err != nil {
		return false, err
	}
	cps, err := (&Trail{DB: w.DB}).newestCheckpoints(ctx, 1)
	if err != nil {
		return false, fmt.Errorf("audit witness: %w", err)
	}
	if len(cps) == 0 || cps[0].seq == w.refused {
		return false, nil
	}
	seq, cp := cps[0].seq, cps[0].checkpointDetail
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
	if err := w.save(sc.Checkpoint, signed); err != nil {
		return false, err
	}
	return stored, nil
}

// refuse remembers the checkpoint at seq as refused and says why.
func (w *Witness) refuse(seq uint64, format string, args ...any) error {
	w.refused = seq
	err := fmt.Errorf("audit: %w at seq %d: %s", ErrWitnessRefused, seq, fmt.Sprintf(format, args...))
	w.setLast(nil, err)
	return err
}

// Open reads what the witness co-signed last, once: StatePath holds the
// note it co-signed, which must carry its own valid signature (a state
// written for another witness key is refused, as is a malformed one, with
// an error wrapping ErrWitnessState; Run then co-signs nothing and Status
// says why). Without the file, the witness looks for its latest
// co-signature in the stream and goes on from there, with a warning; with
// none, it starts afresh.
func (w *Witness) Open(ctx context.Context) error {
	if w.loaded {
		return nil
	}
	v, err := note.NewVerifier(w.VerifierKey)
	if err != nil {
		return fmt.Errorf("audit witness: verifier key: %w", err)
	}
	b, err := os.ReadFile(w.StatePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = w.recover(ctx, v)
	case err != nil:
		err = fmt.Errorf("audit witness: %w: %w", ErrWitnessState, err)
	default:
		var c *Checkpoint
		if c, err = openOwn(b, v); err != nil {
			err = fmt.Errorf("audit witness: %w: %s %v; restore the witness key that wrote it, or remove the file to let the witness "+
				"go on from its latest co-signature in the stream", ErrWitnessState, w.StatePath, err)
		} else {
			w.setLast(c, nil)
			w.loaded = true
		}
	}
	if err != nil {
		w.setLast(nil, err)
	}
	return err
}

// openOwn opens a note the witness with verifier v co-signed and returns
// its checkpoint.
func openOwn(msg []byte, v note.Verifier) (*Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, fmt.Errorf("is not signed by witness %s", v.Name())
		}
		return nil, fmt.Errorf("is malformed: %w", err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("is malformed: %w", err)
	}
	return &c, nil
}

// recover takes the witness's latest co-signature stored in the stream
// (projected into audit_events) as what it co-signed last.
func (w *Witness) recover(ctx context.Context, v note.Verifier) error {
	rows, err := w.DB.QueryContext(ctx, `SELECT seq, detail FROM audit_events WHERE action = 'audit.cosigned' ORDER BY seq DESC`)
	if err != nil {
		return fmt.Errorf("audit witness: co-signatures: %w", err)
	}
	defer rows.Close()
	var best *Checkpoint
	var bestSeq uint64
	for rows.Next() {
		var seq uint64
		var detail string
		if err := rows.Scan(&seq, &detail); err != nil {
			return err
		}
		var co cosignDetail
		if err := json.Unmarshal([]byte(detail), &co); err != nil || co.Witness != w.VerifierKey {
			continue
		}
		c, err := openOwn([]byte(co.Note), v)
		if err != nil {
			continue // not its own signature: not what it co-signed
		}
		if best == nil || c.Size > best.Size { // the largest: the strictest check from here on
			best, bestSeq = c, seq
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if best != nil {
		w.logger().Warn("audit witness: no state file; going on from this witness's largest co-signature in the stream",
			"state", w.StatePath, "seq", bestSeq, "size", best.Size)
		w.setLast(best, nil)
	}
	w.loaded = true
	return nil
}

// save replaces StatePath with the note the witness co-signed, durably: a
// new file written and synced, then renamed over the old.
func (w *Witness) save(c Checkpoint, signed []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(w.StatePath), ".witness-state-*")
	if err != nil {
		return fmt.Errorf("audit witness: save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(signed); err != nil {
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
	w.setLast(&c, nil)
	return nil
}
