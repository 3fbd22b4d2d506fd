package audit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
)

func TestInclusionProofForEverySeqAtEverySize(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	evs := testEvents(40)
	appendAll(t, db, evs, 7)
	for size := int64(1); size <= 40; size++ {
		root, err := store.TreeHead(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= uint64(size); seq++ {
			proof, err := store.InclusionProof(ctx, seq, size)
			if err != nil {
				t.Fatal(err)
			}
			data := evs[seq-1].Data
			if err := audit.CheckInclusion(proof, size, root, seq, data); err != nil {
				t.Fatalf("seq %d in size %d: %v", seq, size, err)
			}
			if err := audit.CheckInclusion(proof, size, root, seq, append([]byte("x"), data...)); !errors.Is(err, audit.ErrProof) {
				t.Fatalf("altered bytes of seq %d pass: %v", seq, err)
			}
			if size > 1 {
				other := seq%uint64(size) + 1
				if err := audit.CheckInclusion(proof, size, root, other, data); !errors.Is(err, audit.ErrProof) {
					t.Fatalf("seq %d's proof passes for seq %d: %v", seq, other, err)
				}
			}
			if len(proof) > 0 {
				proof[len(proof)/2][3] ^= 1
				if err := audit.CheckInclusion(proof, size, root, seq, data); !errors.Is(err, audit.ErrProof) {
					t.Fatalf("an altered proof for seq %d passes: %v", seq, err)
				}
			}
		}
	}
	if _, err := store.InclusionProof(ctx, 41, 40); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("proof of seq 41 in size 40: %v, want invalid", err)
	}
	if _, err := store.InclusionProof(ctx, 1, 41); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("proof at size 41 of a 40-leaf tree: %v, want invalid", err)
	}
}

func TestConsistencyProofBetweenEverySizePair(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	appendAll(t, db, testEvents(33), 4)
	roots := make([][32]byte, 34)
	for n := range roots {
		r, err := store.TreeHead(ctx, int64(n))
		if err != nil {
			t.Fatal(err)
		}
		roots[n] = r
	}
	for m := int64(1); m <= 33; m++ {
		for n := m; n <= 33; n++ {
			proof, err := store.ConsistencyProof(ctx, m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.CheckConsistency(proof, m, roots[m], n, roots[n]); err != nil {
				t.Fatalf("%d -> %d: %v", m, n, err)
			}
			if m < n {
				// The old root of another size is not a prefix of this tree.
				if err := audit.CheckConsistency(proof, m, roots[m-1], n, roots[n]); !errors.Is(err, audit.ErrProof) {
					t.Fatalf("%d -> %d with a wrong old root passes: %v", m, n, err)
				}
				if err := audit.CheckConsistency(proof, m, roots[m], n, roots[n-1]); !errors.Is(err, audit.ErrProof) {
					t.Fatalf("%d -> %d with a wrong new root passes: %v", m, n, err)
				}
			}
		}
	}
	if err := audit.CheckConsistency(nil, 0, roots[0], 5, roots[5]); err != nil {
		t.Fatalf("the empty tree is a prefix of every tree: %v", err)
	}
	if err := audit.CheckConsistency(nil, 0, roots[1], 5, roots[5]); !errors.Is(err, audit.ErrProof) {
		t.Fatalf("a non-empty root for size 0 passes: %v", err)
	}
	if _, err := store.ConsistencyProof(ctx, 5, 4); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("proof from 5 to 4: %v, want invalid", err)
	}
}
