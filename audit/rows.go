package audit

import (
	"errors"
	"fmt"
	"iter"

	"golang.org/x/mod/sumdb/tlog"
)

// RowLeaf is what an audit row carries to be checked against the log: the
// stream sequence of the event it was projected from and that event's leaf
// hash (column leaf_hash, the hash Append returned in the same transaction).
type RowLeaf struct {
	Seq      uint64
	LeafHash tlog.Hash
}

// rowBatch is how many rows CheckRowHashes compares per read.
const rowBatch = 512

// CheckRowHashes compares audit rows' leaf hashes with the leaves of a tree of
// the given size: a *HashStore's HashReader, or better a LogReport's tree
// recomputed from the stream. The first row (in the order given) whose hash
// differs or whose seq is outside the tree is returned as a *DivergenceError
// of kind RowHash. Several rows may share a seq (one event that the
// projection expands into a row per key).
func CheckRowHashes(rows iter.Seq2[RowLeaf, error], tree tlog.HashReader, size int64) error {
	batch := make([]RowLeaf, 0, rowBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		idx := make([]int64, len(batch))
		for i, r := range batch {
			idx[i] = tlog.StoredHashIndex(0, leafIndex(r.Seq))
		}
		got, err := tree.ReadHashes(idx)
		if missing := (*missingHashError)(nil); errors.As(err, &missing) {
			_, n := tlog.SplitStoredHashIndex(missing.idx)
			return &DivergenceError{Seq: uint64(n) + 1, What: RowHash, Detail: "the log lacks the leaf of a row"}
		}
		if err != nil {
			return fmt.Errorf("audit: read leaves: %w", err)
		}
		for i, r := range batch {
			if got[i] != r.LeafHash {
				return &DivergenceError{Seq: r.Seq, What: RowHash, Detail: "the row's leaf_hash is not the log's leaf at its seq"}
			}
		}
		batch = batch[:0]
		return nil
	}
	for r, err := range rows {
		if err != nil {
			return fmt.Errorf("audit: read rows: %w", err)
		}
		if r.Seq == 0 || r.Seq > uint64(max(size, 0)) {
			if err := flush(); err != nil {
				return err
			}
			return &DivergenceError{Seq: r.Seq, What: RowHash, Detail: fmt.Sprintf("a row names seq %d, outside the log of size %d", r.Seq, size)}
		}
		batch = append(batch, r)
		if len(batch) == rowBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
