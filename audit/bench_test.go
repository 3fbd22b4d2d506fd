package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/note"
)

// benchSize is the log size the benchmarks run at.
const benchSize = 1_000_000

// benchData returns the bytes of bench event seq: a stored event of
// realistic size (~190 bytes), generated instead of kept in memory.
func benchData(buf []byte, seq uint64) []byte {
	return fmt.Appendf(buf[:0], `{"type":"key.issued","v":1,"key_id":"01JBENCH%018d","owner":"01JOWNER%018d","name":"bench key %d","scopes":["read","write"],"at":"2026-11-23T12:00:00.000Z"}`, seq, seq/7, seq)
}

func benchStream(n uint64) iter.Seq2[audit.Event, error] {
	return func(yield func(audit.Event, error) bool) {
		var buf []byte
		for seq := uint64(1); seq <= n; seq++ {
			buf = benchData(buf, seq)
			if !yield(audit.Event{Seq: seq, Data: buf}, nil) {
				return
			}
		}
	}
}

var bench struct {
	once sync.Once
	dir  string
	db   *sql.DB
	err  error
}

// benchDB returns a database holding the tree of benchSize bench events,
// built once per test binary (it takes a while) and removed by TestMain.
func benchDB(b *testing.B) *sql.DB {
	bench.once.Do(func() {
		if bench.dir, bench.err = os.MkdirTemp("", "audit-bench-"); bench.err != nil {
			return
		}
		path := filepath.Join(bench.dir, "ledger.db")
		bench.db, bench.err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000&_synchronous=NORMAL&_txlock=immediate")
		if bench.err != nil {
			return
		}
		ctx := context.Background()
		if bench.err = audit.Migrate(ctx, bench.db); bench.err != nil {
			return
		}
		batch := make([]audit.Event, 0, 10_000)
		flush := func() error {
			tx, err := bench.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := audit.Append(ctx, tx, batch...); err != nil {
				return err
			}
			batch = batch[:0]
			return tx.Commit()
		}
		for ev := range benchStream(benchSize) {
			batch = append(batch, audit.Event{Seq: ev.Seq, Data: append([]byte(nil), ev.Data...)})
			if len(batch) == cap(batch) {
				if bench.err = flush(); bench.err != nil {
					return
				}
			}
		}
		if len(batch) > 0 {
			bench.err = flush()
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.db
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.db != nil {
		bench.db.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// BenchmarkInclusionProof1M proves a random event's inclusion in the
// 1,000,000-leaf stored tree (one SQLite query) and checks the proof.
func BenchmarkInclusionProof1M(b *testing.B) {
	ctx := context.Background()
	store := audit.NewHashStore(benchDB(b))
	root, err := store.TreeHead(ctx, benchSize)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for b.Loop() {
		seq := 1 + rng.Uint64N(benchSize)
		proof, err := store.InclusionProof(ctx, seq, benchSize)
		if err != nil {
			b.Fatal(err)
		}
		buf = benchData(buf, seq)
		if err := audit.CheckInclusion(proof, benchSize, root, seq, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceipt1M builds a receipt against a signed checkpoint at
// 1,000,000 leaves and checks it offline.
func BenchmarkReceipt1M(b *testing.B) {
	ctx := context.Background()
	store := audit.NewHashStore(benchDB(b))
	signer, _, vkey := newKey(b, testOrigin)
	cp := signedAt(b, store, benchSize, signer)
	rng := rand.New(rand.NewPCG(3, 4))
	for b.Loop() {
		seq := 1 + rng.Uint64N(benchSize)
		r, err := store.NewReceipt(ctx, seq, benchData(nil, seq), cp)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := audit.CheckReceipt(r, vkey); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLog1M recomputes the tree over 1,000,000 events, checks 100
// signed checkpoints and compares all 2,000,000 stored hashes in SQLite.
func BenchmarkVerifyLog1M(b *testing.B) {
	ctx := context.Background()
	store := audit.NewHashStore(benchDB(b))
	signer, v, _ := newKey(b, testOrigin)
	var cps [][]byte
	for size := int64(benchSize / 100); size <= benchSize; size += benchSize / 100 {
		cps = append(cps, signedAt(b, store, size, signer))
	}
	known := note.VerifierList(v)
	for b.Loop() {
		rep, err := audit.VerifyLog(ctx, benchStream(benchSize), cps, known, store)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Size != benchSize || rep.StoredSize != benchSize || rep.Checkpoints != 100 {
			b.Fatalf("report %+v", rep)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchSize, "ns/event")
}

// BenchmarkAppend measures the projector's cost: 100 events appended per
// transaction to a growing tree.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b)
	var seq uint64
	batch := make([]audit.Event, 100)
	for b.Loop() {
		for i := range batch {
			seq++
			batch[i] = audit.Event{Seq: seq, Data: benchData(nil, seq)}
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := audit.Append(ctx, tx, batch...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/event")
}
