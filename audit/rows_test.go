package audit_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/keyledger/keyledger/audit"
)

func rowsOf(rows []audit.RowLeaf) iter.Seq2[audit.RowLeaf, error] {
	return func(yield func(audit.RowLeaf, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func TestCheckRowHashesNamesTheAlteredRow(t *testing.T) {
	ctx := context.Background()
	f := newLogFixture(t)
	rep, err := audit.VerifyLog(ctx, stream(f.events), f.checkpoints, f.known, f.store)
	if err != nil {
		t.Fatal(err)
	}
	// Rows carry the leaf hash Append returned; one event may give several rows.
	var rows []audit.RowLeaf
	for i, h := range f.leaves {
		rows = append(rows, audit.RowLeaf{Seq: uint64(i + 1), LeafHash: h})
		if i%10 == 0 {
			rows = append(rows, audit.RowLeaf{Seq: uint64(i + 1), LeafHash: h})
		}
	}
	size, _ := f.store.Size(ctx)
	if err := audit.CheckRowHashes(rowsOf(rows), rep.HashReader(), rep.Size); err != nil {
		t.Fatalf("intact rows against the recomputed tree: %v", err)
	}
	if err := audit.CheckRowHashes(rowsOf(rows), f.store.HashReader(ctx), size); err != nil {
		t.Fatalf("intact rows against the stored tree: %v", err)
	}

	for name, tc := range map[string]struct {
		alter func(rows []audit.RowLeaf) []audit.RowLeaf
		seq   uint64
	}{
		"altered_hash": {func(r []audit.RowLeaf) []audit.RowLeaf { r[700].LeafHash[5] ^= 1; return r }, rows[700].Seq},
		"hash_of_another_seq": {func(r []audit.RowLeaf) []audit.RowLeaf {
			r[600].LeafHash = r[601].LeafHash
			return r
		}, rows[600].Seq},
		"seq_beyond_log": {func(r []audit.RowLeaf) []audit.RowLeaf {
			return append(r, audit.RowLeaf{Seq: 1001, LeafHash: r[0].LeafHash})
		}, 1001},
		"seq_zero": {func(r []audit.RowLeaf) []audit.RowLeaf {
			return append(r[:5:5], audit.RowLeaf{Seq: 0})
		}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			altered := tc.alter(append([]audit.RowLeaf(nil), rows...))
			err := audit.CheckRowHashes(rowsOf(altered), rep.HashReader(), rep.Size)
			var d *audit.DivergenceError
			if !errors.As(err, &d) || d.What != audit.RowHash || d.Seq != tc.seq {
				t.Fatalf("CheckRowHashes = %v, want row_hash at seq %d", err, tc.seq)
			}
		})
	}
}
