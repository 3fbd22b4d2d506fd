package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyledger/keyledger"
	"golang.org/x/mod/sumdb/tlog"
)

// HashStore is the transparency log's stored hashes in SQLite (table
// tlog_hashes, created by Migrate): the tree at its current size, tree heads
// and proofs at any size up to it. The projector appends to it with Append
// inside its own transaction; everything else reads through DB.
type HashStore struct {
	DB *sql.DB
}

// NewHashStore returns a HashStore reading db, on which Migrate has run.
func NewHashStore(db *sql.DB) *HashStore { return &HashStore{DB: db} }

// querier is what reading hashes needs: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errMissingHash is matched by every missingHashError.
var errMissingHash = errors.New("stored hash missing")

// missingHashError reports a stored hash the table should hold but does not
// (or holds with the wrong length).
type missingHashError struct{ idx int64 }

func (e *missingHashError) Error() string        { return fmt.Sprintf("stored hash %d missing", e.idx) }
func (e *missingHashError) Is(target error) bool { return target == errMissingHash }

// Size returns the number of leaves (events) in the stored tree.
func (s *HashStore) Size(ctx context.Context) (int64, error) { return treeSize(ctx, s.DB) }

// HashReader returns a tlog.HashReader over the stored hashes, for
// tlog.TreeHash, tlog.ProveRecord and tlog.ProveTree.
func (s *HashStore) HashReader(ctx context.Context) tlog.HashReader {
	return &sqlHashReader{ctx: ctx, q: s.DB}
}

// treeSize derives the leaf count from the stored hash count: for n leaves
// tlog stores tlog.StoredHashCount(n) hashes, indexes 0..count-1.
func treeSize(ctx context.Context, q querier) (int64, error) {
	var count int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_hashes`).Scan(&count); err != nil {
		return 0, fmt.Errorf("tree size: %w", err)
	}
	lo, hi := int64(0), count // StoredHashCount(n) >= n, so n <= count
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if tlog.StoredHashCount(mid) <= count {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if tlog.StoredHashCount(lo) != count {
		return 0, fmt.Errorf("tree size: %d stored hashes is no whole tree", count)
	}
	return lo, nil
}

// Append adds the events, which must continue the tree (the first has
// seq = Size()+1, the rest follow without gaps), to the stored tree inside
// the caller's transaction, and returns their leaf hashes in order. An event
// the tree already holds (a redelivery) is accepted when its leaf hash is the
// stored one, and returns that hash; one that differs is a *DivergenceError.
func Append(ctx context.Context, tx *sql.Tx, events ...Event) ([]tlog.Hash, error) {
	size, err := treeSize(ctx, tx)
	if err != nil {
		return nil, err
	}
	r := &sqlHashReader{ctx: ctx, q: tx, base: tlog.StoredHashCount(size)}
	leaves := make([]tlog.Hash, 0, len(events))
	var buf []byte
	for _, ev := range events {
		if ev.Seq == 0 || ev.Seq > uint64(size)+1 {
			return nil, keyledger.Errorf(keyledger.EInvalid, "audit: event seq %d does not follow tree size %d", ev.Seq, size)
		}
		buf = appendLeafInput(buf[:0], ev.Seq, ev.Data)
		leaf := tlog.RecordHash(buf)
		if ev.Seq <= uint64(size) {
			have, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, leafIndex(ev.Seq))})
			if err != nil {
				return nil, fmt.Errorf("audit: leaf %d: %w", ev.Seq, err)
			}
			if have[0] != leaf {
				return nil, &DivergenceError{Seq: ev.Seq, What: StoredHash, Detail: "a redelivered event's leaf hash differs from the stored one"}
			}
			leaves = append(leaves, leaf)
			continue
		}
		hashes, err := tlog.StoredHashesForRecordHash(size, leaf, r)
		if err != nil {
			return nil, fmt.Errorf("audit: append seq %d: %w", ev.Seq, err)
		}
		r.pending = append(r.pending, hashes...)
		leaves = append(leaves, leaf)
		size++
	}
	if len(r.pending) == 0 {
		return leaves, nil
	}
	if err := insertHashes(ctx, tx, r.base, r.pending); err != nil {
		return nil, err
	}
	return leaves, nil
}

// hashesPerInsert is the most hashes one INSERT writes: a row per
// statement costs twice as much.
const hashesPerInsert = 200

// insertHashes writes hashes at stored indexes base, base+1, ….
func insertHashes(ctx context.Context, tx *sql.Tx, base int64, hashes []tlog.Hash) error {
	args := make([]any, 0, 2*len(hashes))
	for i, h := range hashes {
		args = append(args, base+int64(i), h[:])
	}
	if err := insertRows(ctx, tx, `INSERT INTO tlog_hashes (idx, hash) VALUES `, 2, hashesPerInsert, args); err != nil {
		return fmt.Errorf("audit: append hashes from %d: %w", base, err)
	}
	return nil
}

// TreeHead returns the root hash of the stored tree at size (0 ≤ size ≤ Size).
func (s *HashStore) TreeHead(ctx context.Context, size int64) (tlog.Hash, error) {
	if err := s.checkSize(ctx, size); err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(size, s.HashReader(ctx))
}

// Checkpoint returns the unsigned checkpoint of the stored tree at its
// current size, named origin.
func (s *HashStore) Checkpoint(ctx context.Context, origin string) (Checkpoint, error) {
	size, err := s.Size(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	root, err := tlog.TreeHash(size, s.HashReader(ctx))
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}, nil
}

// InclusionProof proves that the event at seq is in the tree of the given
// size: check it with CheckInclusion against that size's root.
func (s *HashStore) InclusionProof(ctx context.Context, seq uint64, size int64) (tlog.RecordProof, error) {
	if err := s.checkSize(ctx, size); err != nil {
		return nil, err
	}
	if seq == 0 || seq > uint64(size) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: seq %d is not in a tree of size %d", seq, size)
	}
	return tlog.ProveRecord(size, leafIndex(seq), s.HashReader(ctx))
}

// ConsistencyProof proves that the tree of size newSize extends the tree of
// size oldSize (1 ≤ oldSize ≤ newSize ≤ Size): check it with CheckConsistency.
func (s *HashStore) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	if err := s.checkSize(ctx, newSize); err != nil {
		return nil, err
	}
	if oldSize < 1 || oldSize > newSize {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: no consistency proof from size %d to %d", oldSize, newSize)
	}
	return tlog.ProveTree(newSize, oldSize, s.HashReader(ctx))
}

func (s *HashStore) checkSize(ctx context.Context, size int64) error {
	have, err := s.Size(ctx)
	if err != nil {
		return err
	}
	if size < 0 || size > have {
		return keyledger.Errorf(keyledger.EInvalid, "audit: tree size %d is beyond the stored tree (%d)", size, have)
	}
	return nil
}
