package audit

import (
	"errors"
	"fmt"
)

// Divergence names what differs from the stream.
type Divergence string

// The kinds of divergence VerifyLog, Append and CheckRowHashes report.
const (
	// EventMissing: the stream lacks an event at Seq (a gap, or a stream
	// shorter than a checkpoint says it was).
	EventMissing Divergence = "event_missing"
	// EventOrder: the stream yielded Seq again or out of order.
	EventOrder Divergence = "event_order"
	// StoredHash: a hash stored in tlog_hashes differs from the hash
	// recomputed from the stream, or is missing.
	StoredHash Divergence = "stored_hash"
	// StoredExtra: the stored tree has leaves the stream does not.
	StoredExtra Divergence = "stored_extra"
	// CheckpointSignature: a checkpoint's signatures do not verify.
	CheckpointSignature Divergence = "checkpoint_signature"
	// CheckpointMalformed: a checkpoint cannot be parsed.
	CheckpointMalformed Divergence = "checkpoint_malformed"
	// CheckpointOrigin: a checkpoint names another log.
	CheckpointOrigin Divergence = "checkpoint_origin"
	// CheckpointRoot: a checkpoint's root is not the root of the stream's
	// tree at its size.
	CheckpointRoot Divergence = "checkpoint_root"
	// CheckpointConsistency: a checkpoint does not extend the one before it.
	CheckpointConsistency Divergence = "checkpoint_consistency"
	// RowHash: an audit row's leaf_hash is not the log's leaf at its seq.
	RowHash Divergence = "row_hash"
	// RowContent: an audit row differs from the row the event at Seq makes.
	RowContent Divergence = "row_content"
	// RowMissing: ledger.db lacks the audit row of the event at Seq.
	RowMissing Divergence = "row_missing"
	// RowExtra: ledger.db has an audit row for no event (or beyond its position).
	RowExtra Divergence = "row_extra"
	// CheckpointSize: a checkpoint event's size disagrees with its note, or
	// covers events stored after it.
	CheckpointSize Divergence = "checkpoint_size"
	// CosignSignature: a witness's co-signature event does not hold the
	// witness's valid signature, or names no usable witness key.
	CosignSignature Divergence = "cosign_signature"
	// Index: an index of the audit tables does not hold what their rows
	// say (SQLite's integrity check), so queries through it (by key, owner,
	// actor, action or time) would not show the rows as they are. Seq is
	// the row named, if the check names one.
	Index Divergence = "index"
)

// ErrDiverged matches every *DivergenceError with errors.Is.
var ErrDiverged = errors.New("audit log diverges from the stream")

// DivergenceError reports the first point where the audit trail was found
// altered. Use errors.As to read it.
type DivergenceError struct {
	// Seq is the first stream sequence at which the log diverges. When
	// Through is set, the divergence lies somewhere in Seq..Through: a
	// checkpoint's root says that its tree differs, not where.
	Seq     uint64
	Through uint64
	What    Divergence
	// Checkpoint is the size of the checkpoint involved, if any.
	Checkpoint int64
	// Detail says what differs, for people; it never holds event bytes.
	Detail string
	// Err is the underlying cause, if any (a signature or proof error).
	Err error
}

// Error implements error.
func (e *DivergenceError) Error() string {
	at := fmt.Sprintf("seq %d", e.Seq)
	if e.Through > e.Seq {
		at = fmt.Sprintf("seq %d..%d", e.Seq, e.Through)
	}
	msg := fmt.Sprintf("audit: log diverges at %s (%s)", at, e.What)
	if e.Seq == 0 && e.What == Index {
		msg = "audit: the audit tables' indexes diverge from their rows (index)"
	}
	if e.Checkpoint > 0 || e.What == CheckpointRoot {
		msg += fmt.Sprintf(", checkpoint of size %d", e.Checkpoint)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrDiverged) true.
func (e *DivergenceError) Is(target error) bool { return target == ErrDiverged }

// Unwrap returns the underlying cause.
func (e *DivergenceError) Unwrap() error { return e.Err }
