package audit

import (
	"errors"
	"fmt"

	"github.com/keyledger/keyledger"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrProof is wrapped by every error a proof check returns for a proof that
// does not hold.
var ErrProof = errors.New("proof does not hold")

// CheckInclusion checks that proof shows the event stored at seq with bytes
// data is in the tree of the given size whose root is root.
func CheckInclusion(proof tlog.RecordProof, size int64, root tlog.Hash, seq uint64, data []byte) error {
	return CheckLeafInclusion(proof, size, root, seq, LeafHash(seq, data))
}

// CheckLeafInclusion is CheckInclusion for a leaf hash, as an audit row
// carries it, instead of the event's bytes.
func CheckLeafInclusion(proof tlog.RecordProof, size int64, root tlog.Hash, seq uint64, leaf tlog.Hash) error {
	if seq == 0 || size < 0 || seq > uint64(size) {
		return keyledger.Errorf(keyledger.EInvalid, "audit: seq %d is not in a tree of size %d", seq, size)
	}
	if err := tlog.CheckRecord(proof, size, root, leafIndex(seq), leaf); err != nil {
		return fmt.Errorf("audit: inclusion of seq %d in tree of size %d: %w: %v", seq, size, ErrProof, err)
	}
	return nil
}

// CheckConsistency checks that proof shows the tree of size newSize with root
// newRoot extends the tree of size oldSize with root oldRoot: no event of the
// older tree was changed, removed or reordered. Equal sizes need equal roots
// and an empty proof; an empty old tree is a prefix of every tree.
func CheckConsistency(proof tlog.TreeProof, oldSize int64, oldRoot tlog.Hash, newSize int64, newRoot tlog.Hash) error {
	if oldSize < 0 || oldSize > newSize {
		return keyledger.Errorf(keyledger.EInvalid, "audit: no consistency from size %d to %d", oldSize, newSize)
	}
	if oldSize == 0 {
		if empty, _ := tlog.TreeHash(0, nil); len(proof) != 0 || oldRoot != empty {
			return fmt.Errorf("audit: consistency from the empty tree: %w: want an empty proof and the empty root", ErrProof)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
		return fmt.Errorf("audit: consistency from size %d to %d: %w: %v", oldSize, newSize, ErrProof, err)
	}
	return nil
}
