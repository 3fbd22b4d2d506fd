package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// StoredTree is the stored hashes VerifyLog compares with the stream;
// *HashStore is one.
type StoredTree interface {
	Size(ctx context.Context) (int64, error)
	HashReader(ctx context.Context) tlog.HashReader
}

var _ StoredTree = (*HashStore)(nil)

// LogReport describes a log VerifyLog found intact.
type LogReport struct {
	// Size is the number of events read from the stream, Root their tree's root.
	Size int64
	Root tlog.Hash
	// Checkpoints is how many checkpoints were verified.
	Checkpoints int
	// StoredSize is how many leaves the stored tree held, all compared
	// (it may trail the stream while the projector catches up).
	StoredSize int64

	tree *memTree
}

// HashReader reads the tree recomputed from the stream, e.g. for
// CheckRowHashes or for proofs that do not trust the stored hashes.
func (r *LogReport) HashReader() tlog.HashReader { return r.tree }

// compareChunk is how many stored hashes are read per query when comparing.
const compareChunk = 8192

// VerifyLog recomputes the transparency log from the stream and checks it
// against everything that claims to describe it:
//
//   - events must be the stream from seq 1, in order, without gaps;
//   - every checkpoint (signed notes, in any order) must verify with known,
//     be signed by a key named after its origin, share one origin, and have
//     the root of the recomputed tree at its size; each must be consistent
//     with the one before it (by size);
//   - stored, if not nil, must hold exactly the recomputed hashes up to its
//     size, and no leaf beyond the stream.
//
// Checkpoints are opened first, so a forged or malformed one is reported
// before any event is read (its Seq is the size it claims, 0 if none). Then
// events are read in order and the first divergence found is returned as a
// *DivergenceError. Memory: 64 bytes per event.
func VerifyLog(ctx context.Context, events iter.Seq2[Event, error], checkpoints [][]byte, known note.Verifiers, stored StoredTree) (*LogReport, error) {
	v, err := newVerifier(ctx, &memTree{}, checkpoints, known, stored)
	if err != nil {
		return nil, err
	}
	b := treeBuilder{tree: v.tree}
	for ev, err := range events {
		if err != nil {
			return nil, fmt.Errorf("audit: read stream: %w", err)
		}
		if err := b.add(ctx, ev); err != nil {
			return nil, err
		}
		if v.stored != nil && v.tree.n <= v.storedSize && tlog.StoredHashCount(v.tree.n)-v.compared >= compareChunk {
			if err := v.compareStored(v.tree.n); err != nil {
				return nil, err
			}
		}
		if err := v.checkpointsAt(v.tree.n); err != nil {
			return nil, err
		}
	}
	return v.finish()
}

// verifyTree checks a tree already rebuilt from the whole stream the way
// VerifyLog checks it while reading: every checkpoint, in size order, after
// the stored hashes below it; then the rest of the stored hashes.
func verifyTree(ctx context.Context, tree *memTree, checkpoints [][]byte, known note.Verifiers, stored StoredTree) (*LogReport, error) {
	v, err := newVerifier(ctx, tree, checkpoints, known, stored)
	if err != nil {
		return nil, err
	}
	for v.next < len(v.cps) && v.cps[v.next].Size <= tree.n {
		if err := v.checkpointsAt(v.cps[v.next].Size); err != nil {
			return nil, err
		}
	}
	return v.finish()
}

// newVerifier opens the checkpoints and checks those of size 0.
func newVerifier(ctx context.Context, tree *memTree, checkpoints [][]byte, known note.Verifiers, stored StoredTree) (*verifier, error) {
	cps, err := openAll(checkpoints, known)
	if err != nil {
		return nil, err
	}
	v := &verifier{tree: tree, cps: cps}
	if stored != nil {
		if v.storedSize, err = stored.Size(ctx); err != nil {
			return nil, fmt.Errorf("audit: stored tree: %w", err)
		}
		v.stored = stored.HashReader(ctx)
	}
	return v, v.checkpointsAt(0)
}

// treeBuilder adds the stream's events to a tree, in order from seq 1:
// a gap or an event out of order is a divergence.
type treeBuilder struct {
	tree *memTree
}

func (b *treeBuilder) add(ctx context.Context, ev Event) error {
	next := uint64(b.tree.n) + 1
	if ev.Seq != next {
		if ev.Seq > next {
			return &DivergenceError{Seq: next, What: EventMissing, Detail: fmt.Sprintf("the stream has no event at seq %d (next is %d)", next, ev.Seq)}
		}
		return &DivergenceError{Seq: ev.Seq, What: EventOrder, Detail: fmt.Sprintf("seq %d came after seq %d", ev.Seq, next-1)}
	}
	if next%4096 == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := b.tree.add(ev.Seq, ev.Data); err != nil {
		return fmt.Errorf("audit: rebuild tree at seq %d: %w", ev.Seq, err)
	}
	return nil
}

// verifier is one VerifyLog run.
type verifier struct {
	tree       *memTree
	cps        []*SignedCheckpoint // by size
	next       int                 // first checkpoint not yet checked
	good       *SignedCheckpoint   // last checkpoint that matched the tree
	stored     tlog.HashReader
	storedSize int64
	compared   int64 // stored hashes compared so far
}

func (v *verifier) finish() (*LogReport, error) {
	n := v.tree.n
	if v.stored != nil {
		if err := v.compareStored(min(n, v.storedSize)); err != nil {
			return nil, err
		}
	}
	if v.next < len(v.cps) {
		c := v.cps[len(v.cps)-1]
		return nil, &DivergenceError{Seq: uint64(n) + 1, Through: uint64(c.Size), What: EventMissing, Checkpoint: c.Size,
			Detail: fmt.Sprintf("the stream ends at seq %d but a checkpoint covers %d events", n, c.Size)}
	}
	if v.stored != nil && v.storedSize > n {
		return nil, &DivergenceError{Seq: uint64(n) + 1, Through: uint64(v.storedSize), What: StoredExtra,
			Detail: fmt.Sprintf("the stream ends at seq %d but the stored tree has %d leaves", n, v.storedSize)}
	}
	root, err := tlog.TreeHash(n, v.tree)
	if err != nil {
		return nil, err
	}
	return &LogReport{Size: n, Root: root, Checkpoints: len(v.cps), StoredSize: v.storedSize, tree: v.tree}, nil
}

// compareStored compares the stored hashes of the tree of size leaves that
// have not been compared yet with the recomputed ones.
func (v *verifier) compareStored(leaves int64) error {
	end := tlog.StoredHashCount(leaves)
	idx := make([]int64, 0, compareChunk)
	for v.compared < end {
		idx = idx[:0]
		for i := v.compared; i < end && len(idx) < compareChunk; i++ {
			idx = append(idx, i)
		}
		got, err := v.stored.ReadHashes(idx)
		if missing := (*missingHashError)(nil); errors.As(err, &missing) {
			return storedDivergence(missing.idx, "a stored hash is missing", nil)
		}
		if err != nil {
			return fmt.Errorf("audit: read stored tree: %w", err)
		}
		for k, i := range idx {
			if got[k] != v.tree.hashes[i] {
				return storedDivergence(i, "", nil)
			}
		}
		v.compared += int64(len(idx))
	}
	return nil
}

// storedDivergence names the events under the stored hash at index idx.
// Leaves come before the interior nodes above them, so when a node is the
// first mismatch every leaf under it matched: its stored hash itself was
// altered.
func storedDivergence(idx int64, detail string, err error) error {
	level, n := tlog.SplitStoredHashIndex(idx)
	first := uint64(n<<level) + 1
	e := &DivergenceError{Seq: first, What: StoredHash, Detail: detail, Err: err}
	if detail == "" {
		e.Detail = "the stored leaf hash differs from the stream's event"
	}
	if level > 0 {
		e.Through = uint64((n + 1) << level)
		if detail == "" {
			e.Detail = fmt.Sprintf("the stored interior hash (level %d) over these events differs, though their leaves match", level)
		}
	}
	return e
}

// checkpointsAt checks every checkpoint of size n against the tree, which
// has n leaves.
func (v *verifier) checkpointsAt(n int64) error {
	for ; v.next < len(v.cps) && v.cps[v.next].Size == n; v.next++ {
		if v.stored != nil {
			if err := v.compareStored(min(n, v.storedSize)); err != nil {
				return err
			}
		}
		c := v.cps[v.next]
		from := uint64(1)
		if v.good != nil {
			from = uint64(v.good.Size) + 1
		}
		root, err := tlog.TreeHash(n, v.tree)
		if err != nil {
			return err
		}
		if root != c.Root {
			return &DivergenceError{Seq: min(from, uint64(n)), Through: uint64(n), What: CheckpointRoot, Checkpoint: n,
				Detail: "the checkpoint's root is not the root of the stream's events"}
		}
		// Two roots of one recomputed tree are consistent by construction;
		// the proof is still run, so that the pair a report names has been
		// checked the way a client without the stream checks it.
		if v.good != nil && v.good.Size > 0 {
			proof, err := tlog.ProveTree(n, v.good.Size, v.tree)
			if err != nil {
				return err
			}
			if err := CheckConsistency(proof, v.good.Size, v.good.Root, n, c.Root); err != nil {
				return &DivergenceError{Seq: from, Through: uint64(n), What: CheckpointConsistency, Checkpoint: n, Err: err}
			}
		}
		v.good = c
	}
	return nil
}

// openAll opens every checkpoint and sorts them by size.
func openAll(msgs [][]byte, known note.Verifiers) ([]*SignedCheckpoint, error) {
	cps := make([]*SignedCheckpoint, 0, len(msgs))
	for i, msg := range msgs {
		sc, err := OpenCheckpoint(msg, known)
		if errors.Is(err, ErrCheckpointSignature) {
			claimed := claimedSize(msg)
			return nil, &DivergenceError{Seq: uint64(max(claimed, 0)), What: CheckpointSignature, Checkpoint: claimed,
				Detail: fmt.Sprintf("checkpoint #%d", i+1), Err: err}
		}
		if err != nil {
			return nil, &DivergenceError{What: CheckpointMalformed, Detail: fmt.Sprintf("checkpoint #%d", i+1), Err: err}
		}
		if len(cps) > 0 && sc.Origin != cps[0].Origin {
			return nil, &DivergenceError{Seq: uint64(sc.Size), What: CheckpointOrigin, Checkpoint: sc.Size,
				Detail: fmt.Sprintf("checkpoint #%d is for %q, not %q", i+1, sc.Origin, cps[0].Origin)}
		}
		cps = append(cps, sc)
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	return cps, nil
}

// claimedSize is the size an unverified checkpoint claims, -1 if none.
func claimedSize(msg []byte) int64 {
	text, ok := checkpointNoteText(msg)
	if !ok {
		return -1
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return -1
	}
	return c.Size
}
