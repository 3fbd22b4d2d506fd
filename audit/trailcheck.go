package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
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
	// first seen; every co-signature was checked like a checkpoint.
	Witnesses []*WitnessReport
}

// WitnessReport is one witness's co-signatures in the stream.
type WitnessReport struct {
	// Key is the witness's verifier key, as its co-signatures name it.
	Key string
	// Cosigned is how many checkpoints it co-signed, LastSize the size of
	// the latest.
	Cosigned int
	LastSize uint64
}

// VerifyTrail checks the whole audit trail against the stream: it recomputes
// the tree, checks every CheckpointSigned event (signature by a known key,
// root at its size, consistency with the previous one, a size no later than
// the event itself), the stored hashes in ledger (if not nil), and that every
// audit row of ledger up to its projection position is exactly the row its
// event makes (content and leaf_hash, nothing missing, nothing extra). It
// reads the stream twice and builds the expected rows in a temporary SQLite
// file under tmpDir. The first divergence is a *DivergenceError naming its seq.
func VerifyTrail(ctx context.Context, read StreamReader, known note.Verifiers, ledger *sql.DB, tmpDir string) (*TrailReport, error) {
	dir, err := os.MkdirTemp(tmpDir, "keyledger-audit-verify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	want, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "expected.db")+"?_journal_mode=OFF&_synchronous=OFF&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer want.Close()
	if err := Migrate(ctx, want); err != nil {
		return nil, err
	}
	// The expected rows are compared by seq only; the applier's look-ups of
	// earlier state use the key, owner and action indexes.
	if _, err := want.ExecContext(ctx, `DROP INDEX audit_events_actor; DROP INDEX audit_events_at`); err != nil {
		return nil, err
	}
	// Pass 1: the expected rows, and the checkpoints.
	var notes [][]byte
	witnesses := map[string]*WitnessReport{}
	var order []*WitnessReport
	ap := newRowsApplier()
	err = read(ctx, func(batch []events.Recorded) error {
		for _, r := range batch {
			switch e := r.Event.(type) {
			case *events.CheckpointSigned:
				if err := checkCheckpointEvent(r.Seq, e.Size, e.Note); err != nil {
					return err
				}
				notes = append(notes, []byte(e.Note))
			case *events.CheckpointCosigned:
				if err := checkCosignEvent(r.Seq, e, known); err != nil {
					return err
				}
				notes = append(notes, []byte(e.Note))
				w := witnesses[e.Witness]
				if w == nil {
					w = &WitnessReport{Key: e.Witness}
					witnesses[e.Witness] = w
					order = append(order, w)
				}
				w.Cosigned++
				w.LastSize = max(w.LastSize, e.Size)
			}
		}
		tx, err := want.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := ap.ApplyBatch(tx, batch); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return nil, err
	}
	// Pass 2: the tree, checkpoints and stored hashes.
	var stored StoredTree
	if ledger != nil {
		stored = NewHashStore(ledger)
	}
	rep, err := VerifyLog(ctx, streamEvents(ctx, read), notes, known, stored)
	if err != nil {
		return nil, err
	}
	out := &TrailReport{LogReport: rep, Witnesses: order}
	if ledger != nil {
		if out.Rows, err = compareRows(ctx, ledger, want); err != nil {
			return nil, err
		}
	}
	return out, nil
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

// errStop ends a stream read early.
var errStop = errors.New("stop")

// streamEvents turns a StreamReader into an iterator of leaves.
func streamEvents(ctx context.Context, read StreamReader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		err := read(ctx, func(batch []events.Recorded) error {
			for _, r := range batch {
				if !yield(Event{Seq: r.Seq, Data: r.Data}, nil) {
					return errStop
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(Event{}, err)
		}
	}
}

// compareRows walks ledger's audit rows up to its "ledger" position (or the
// end of the stream as read, if that is earlier) and the expected rows in seq
// order, and returns how many matched or the first divergence. A row past
// the position is extra.
func compareRows(ctx context.Context, db, want *sql.DB) (uint64, error) {
	// One read transaction: the position and the rows are of one moment.
	ledger, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer ledger.Rollback()
	var position uint64
	if err := ledger.QueryRowContext(ctx, `SELECT last_seq FROM projection_state WHERE name = 'ledger'`).Scan(&position); err != nil {
		return 0, fmt.Errorf("projection position: %w", err)
	}
	// Rows projected after the stream was read are left for the next run.
	var read uint64
	if err := want.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&read); err != nil {
		return 0, err
	}
	upTo := min(position, read)
	var beyond sql.NullInt64
	if err := ledger.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE seq > ?`, position).Scan(&beyond); err != nil {
		return 0, err
	}
	if beyond.Valid {
		return 0, &DivergenceError{Seq: uint64(beyond.Int64), What: RowExtra, Detail: "ledger.db has an audit row past the events it projected"}
	}
	const q = `SELECT seq, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash FROM audit_events WHERE seq <= ? ORDER BY seq`
	got, err := ledger.QueryContext(ctx, q, upTo)
	if err != nil {
		return 0, fmt.Errorf("audit rows: %w", err)
	}
	defer got.Close()
	exp, err := want.QueryContext(ctx, q, upTo)
	if err != nil {
		return 0, err
	}
	defer exp.Close()
	var n uint64
	for {
		g, gok, err := scanRow(got)
		if err != nil {
			return n, err
		}
		e, eok, err := scanRow(exp)
		if err != nil {
			return n, err
		}
		switch {
		case !gok && !eok:
			return n, nil
		case !gok:
			return n, &DivergenceError{Seq: e.seq, What: RowMissing, Detail: "ledger.db has no audit row for this event"}
		case !eok:
			return n, &DivergenceError{Seq: g.seq, What: RowExtra, Detail: "ledger.db has an audit row past the events it projected"}
		case g.seq > e.seq:
			return n, &DivergenceError{Seq: e.seq, What: RowMissing, Detail: "ledger.db has no audit row for this event"}
		case g.seq < e.seq:
			return n, &DivergenceError{Seq: g.seq, What: RowExtra, Detail: "ledger.db has an audit row for no event"}
		case !bytes.Equal(g.leaf, e.leaf):
			return n, &DivergenceError{Seq: g.seq, What: RowHash, Detail: "the row's leaf_hash is not the log's leaf at its seq"}
		case g.row != e.row:
			return n, &DivergenceError{Seq: g.seq, What: RowContent, Detail: "the row differs from the one its event makes"}
		}
		n++
	}
}

type storedRow struct {
	seq  uint64
	row  row
	leaf []byte
}

func scanRow(rows *sql.Rows) (storedRow, bool, error) {
	if !rows.Next() {
		return storedRow{}, false, rows.Err()
	}
	var r storedRow
	err := rows.Scan(&r.seq, &r.row.at, &r.row.actor, &r.row.actorKey, &r.row.action, &r.row.keyID, &r.row.owner,
		&r.row.source, &r.row.detail, &r.leaf)
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
