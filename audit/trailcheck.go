package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/keyledger/keyledger/events"
	"golang.org/x/mod/sumdb/note"
)

// StreamReader reads stream KEYLEDGER once from seq 1 to its end, in order,
// in batches, and returns when fn has seen the last event (or fails).
type StreamReader func(ctx context.Context, fn func([]events.Recorded) error) error

// TrailReport describes an audit trail VerifyTrail found intact.
type TrailReport struct {
	*LogReport
	// Rows is how many audit rows of ledger.db were compared (0 without one).
	Rows uint64
	// Witnesses are the instances that co-signed checkpoints, in the order
	// first seen; every co-signature was checked like a checkpoint, and
	// Cosignatures counts them (LogReport.Checkpoints counts them too).
	Witnesses    []*WitnessReport
	Cosignatures int
}

// WitnessReport is one witness's co-signatures in the stream.
type WitnessReport struct {
	// Key is the witness's verifier key, as its co-signatures name it.
	Key string
	// Cosigned is how many checkpoints (distinct sizes) it co-signed,
	// LastSize the size of the latest.
	Cosigned int
	LastSize uint64

	sizes map[uint64]bool
}

// Witnessed returns the size of the largest checkpoint that at least n of
// the witnesses with the given verifier keys co-signed, or 0 if none did.
// Their co-signatures were checked like every other, and consecutive
// checkpoints are consistent, so the whole log up to that size is the one
// those witnesses saw: a history rewritten with a stolen log key has no
// such checkpoint.
func (r *TrailReport) Witnessed(keys []string, n int) uint64 {
	count := map[uint64]int{}
	for _, w := range r.Witnesses {
		if slices.Contains(keys, w.Key) {
			for size := range w.sizes {
				count[size]++
			}
		}
	}
	var best uint64
	for size, c := range count {
		if c >= n && size > best {
			best = size
		}
	}
	return best
}

// VerifyTrail checks the whole audit trail against the stream: it recomputes
// the tree, checks every CheckpointSigned event (signature by a known key,
// root at its size, consistency with the previous one, a size no later than
// the event itself) and every witness's CheckpointCosigned, the stored
// hashes in ledger (if not nil), and that every audit row of ledger up to
// its projection position is exactly the row its event makes (content and
// leaf_hash, nothing missing, nothing extra), and that the indexes the
// audit queries read hold exactly those rows (checkIndexes). It reads the
// stream once, building the tree in memory while other goroutines compare
// the rows and check the indexes. The divergence with the lowest seq is
// returned as a *DivergenceError (an index's after the others).
func VerifyTrail(ctx context.Context, read StreamReader, known note.Verifiers, ledger *sql.DB) (*TrailReport, error) {
	var rows *rowChecker
	indexes := make(chan error, 1)
	if ledger != nil {
		var err error
		if rows, err = startRowChecker(ctx, ledger); err != nil {
			return nil, err
		}
		go func() { indexes <- checkIndexes(ctx, ledger) }() // beside the read
	} else {
		indexes <- nil
	}
	var notes [][]byte
	witnesses := map[string]*WitnessReport{}
	var order []*WitnessReport
	cosignatures := 0
	tree := &memTree{}
	b := treeBuilder{tree: tree}
	readErr := read(ctx, func(batch []events.Recorded) error {
		for i, r := range batch {
			if err := checkEvent(ctx, &b, r, known); err != nil {
				if rows != nil { // the rows before it may diverge earlier
					_ = rows.add(ctx, batch[:i])
				}
				return err
			}
			switch e := r.Event.(type) {
			case *events.CheckpointSigned:
				notes = append(notes, []byte(e.Note))
			case *events.CheckpointCosigned:
				notes = append(notes, []byte(e.Note))
				cosignatures++
				w := witnesses[e.Witness]
				if w == nil {
					w = &WitnessReport{Key: e.Witness, sizes: map[uint64]bool{}}
					witnesses[e.Witness] = w
					order = append(order, w)
				}
				if !w.sizes[e.Size] { // a witness that forgot may co-sign one twice
					w.sizes[e.Size] = true
					w.Cosigned++
				}
				w.LastSize = max(w.LastSize, e.Size)
			}
		}
		if rows == nil {
			return nil
		}
		return rows.add(ctx, batch)
	})
	out := &TrailReport{}
	var rowErr error
	if rows != nil {
		out.Rows, rowErr = rows.close()
	}
	var logErr error
	if d := (*DivergenceError)(nil); readErr != nil && !errors.As(readErr, &d) {
		return nil, fmt.Errorf("audit: read stream: %w", readErr)
	} else if readErr != nil {
		logErr = readErr
	} else {
		var stored StoredTree
		if ledger != nil {
			// The tree as it stood when the read began: a server writing
			// meanwhile adds leaves the stream as read does not have.
			stored = sizedTree{NewHashStore(ledger), rows.storedSize}
		}
		out.LogReport, logErr = verifyTree(ctx, tree, notes, known, stored)
	}
	if err := firstDivergence(logErr, rowErr); err != nil {
		return nil, err
	}
	if err := <-indexes; err != nil {
		return nil, err
	}
	out.Witnesses, out.Cosignatures = order, cosignatures
	return out, nil
}

// checkEvent adds one event to the tree and checks it if it is a
// checkpoint or a co-signature.
func checkEvent(ctx context.Context, b *treeBuilder, r events.Recorded, known note.Verifiers) error {
	if err := b.add(ctx, Event{Seq: r.Seq, Data: r.Data}); err != nil {
		return err
	}
	switch e := r.Event.(type) {
	case *events.CheckpointSigned:
		return checkCheckpointEvent(r.Seq, e.Size, e.Note)
	case *events.CheckpointCosigned:
		return checkCosignEvent(r.Seq, e, known)
	}
	return nil
}

// sizedTree is a stored tree read at a size fixed earlier.
type sizedTree struct {
	*HashStore
	size int64
}

// Size implements StoredTree.
func (t sizedTree) Size(context.Context) (int64, error) { return t.size, nil }

// firstDivergence returns the error that is not a divergence, else the
// divergence with the lower seq (the log's on a tie), else nil.
func firstDivergence(log, rows error) error {
	var dl, dr *DivergenceError
	switch {
	case log != nil && !errors.As(log, &dl):
		return log
	case rows != nil && !errors.As(rows, &dr):
		return rows
	case dl != nil && dr != nil && dr.Seq < dl.Seq:
		return rows
	case log != nil:
		return log
	}
	return rows
}

// checkCheckpointEvent checks that a checkpoint (or co-signature) event's
// size is its note's and that it covers only events stored before it.
func checkCheckpointEvent(seq, size uint64, msg string) error {
	text, ok := checkpointNoteText([]byte(msg))
	if !ok {
		return &DivergenceError{Seq: seq, What: CheckpointMalformed, Detail: "the checkpoint event holds no signed note"}
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return &DivergenceError{Seq: seq, What: CheckpointMalformed, Detail: "the checkpoint event's note is malformed", Err: err}
	}
	if uint64(c.Size) != size || c.Size < 0 || uint64(c.Size) >= seq {
		return &DivergenceError{Seq: seq, What: CheckpointSize, Checkpoint: c.Size,
			Detail: fmt.Sprintf("the checkpoint event at seq %d says size %d, its note %d", seq, size, c.Size)}
	}
	return nil
}

// checkCosignEvent checks a witness's co-signature event as a checkpoint
// event, and that the witness it names signed it validly with a key of its
// own. (The log's signature and the root are checked with the checkpoints.)
func checkCosignEvent(seq uint64, e *events.CheckpointCosigned, log note.Verifiers) error {
	if err := checkCheckpointEvent(seq, e.Size, e.Note); err != nil {
		return err
	}
	bad := func(detail string, err error) error {
		return &DivergenceError{Seq: seq, What: CosignSignature, Checkpoint: int64(e.Size), Detail: detail, Err: err}
	}
	w, err := note.NewVerifier(e.Witness)
	if err != nil {
		return bad("the co-signature names no valid witness key", err)
	}
	if w.Name() == Origin {
		return bad("the co-signature's witness key is named as the log", nil)
	}
	sc, err := OpenCheckpoint([]byte(e.Note), withWitness{log, w})
	if err != nil {
		return bad("the co-signed note does not verify", err)
	}
	id := fmt.Sprintf("%s+%08x", w.Name(), w.KeyHash())
	if !slices.Contains(sc.Signers, id) {
		return bad(fmt.Sprintf("witness %s did not sign the note", id), nil)
	}
	return nil
}

// withWitness is the log's verifiers and one witness's.
type withWitness struct {
	note.Verifiers
	w note.Verifier
}

// Verifier implements note.Verifiers.
func (v withWitness) Verifier(name string, hash uint32) (note.Verifier, error) {
	if name == v.w.Name() && hash == v.w.KeyHash() {
		return v.w, nil
	}
	return v.Verifiers.Verifier(name, hash)
}

type storedRow struct {
	seq   uint64
	row   row
	leaf  []byte
	typed int // how many columns hold their type (rowTypesColumn)
}

// rowTypesColumn counts the columns of an audit row that hold their type:
// the table is not STRICT, and text rewritten as a blob scans as the same
// string but matches no filter. A sum scans without an allocation.
const (
	rowTypesColumn = `(typeof(at)='text')+(typeof(actor)='text')+(typeof(actor_key)='text')+(typeof(action)='text')+
		(typeof(key_id)='text')+(typeof(owner)='text')+(typeof(source)='text')+(typeof(detail)='text')+(typeof(leaf_hash)='blob')`
	rowColumns = 9
)

func scanRow(rows *sql.Rows) (storedRow, bool, error) {
	if !rows.Next() {
		return storedRow{}, false, rows.Err()
	}
	var r storedRow
	err := rows.Scan(&r.seq, &r.row.at, &r.row.actor, &r.row.actorKey, &r.row.action, &r.row.keyID, &r.row.owner,
		&r.row.source, &r.row.detail, &r.leaf, &r.typed)
	return r, err == nil, err
}

// Follower is what ReadStream needs of the event store; *events.Store is one.
type Follower interface {
	Follow(ctx context.Context, from uint64, fn func([]events.Recorded) error) error
	LastSeq(ctx context.Context) (uint64, error)
}

// errDone ends a stream read at the sequence that was last when it began.
var errDone = errors.New("read to the end")

// ReadStream reads s from seq 1 to the sequence that is last when the read
// begins (or a little past it).
func ReadStream(s Follower) StreamReader {
	return func(ctx context.Context, fn func([]events.Recorded) error) error {
		last, err := s.LastSeq(ctx)
		if err != nil || last == 0 {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err = s.Follow(ctx, 1, func(b []events.Recorded) error {
			if err := fn(b); err != nil {
				return err
			}
			if b[len(b)-1].Seq >= last {
				return errDone
			}
			return nil
		})
		if errors.Is(err, errDone) {
			return nil
		}
		return err
	}
}
