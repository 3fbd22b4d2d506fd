package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/note"
)

func TestReceiptChecksOfflineAndFailsOnAnyAlteration(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	evs := testEvents(100)
	appendAll(t, db, evs, 30)
	signer, _, vkey := newKey(t, testOrigin)
	cp := signedAt(t, store, 90, signer)

	const seq = 52
	r, err := store.NewReceipt(ctx, seq, evs[seq-1].Data, cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewReceipt(ctx, seq, []byte("not the stored bytes"), cp); err == nil {
		t.Fatal("a receipt was built for bytes the log does not hold")
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// Offline: only the JSON and the verifier key; the database is gone.
	db.Close()
	got, err := audit.ParseReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := audit.CheckReceipt(got, vkey)
	if err != nil {
		t.Fatalf("an intact receipt fails: %v", err)
	}
	if sc.Size != 90 || sc.Origin != testOrigin {
		t.Fatalf("receipt proved against %+v, want size 90", sc.Checkpoint)
	}

	_, _, otherKey := newKey(t, testOrigin)
	_, _, witnessKey := newKey(t, "witness.example")
	alter := map[string]func(r *audit.Receipt) string{
		"event_byte":      func(r *audit.Receipt) string { r.Event[len(r.Event)/2] ^= 1; return "" },
		"event_appended":  func(r *audit.Receipt) string { r.Event = append(r.Event, ' '); return "" },
		"seq_plus_one":    func(r *audit.Receipt) string { r.Seq++; return "" },
		"seq_minus_one":   func(r *audit.Receipt) string { r.Seq--; return "" },
		"seq_zero":        func(r *audit.Receipt) string { r.Seq = 0; return "" },
		"seq_beyond":      func(r *audit.Receipt) string { r.Seq = 91; return "" },
		"leaf_hash":       func(r *audit.Receipt) string { r.LeafHash[0] ^= 1; return "" },
		"proof_hash":      func(r *audit.Receipt) string { r.Proof[2][31] ^= 1; return "" },
		"proof_truncated": func(r *audit.Receipt) string { r.Proof = r.Proof[:len(r.Proof)-1]; return "" },
		"proof_extended":  func(r *audit.Receipt) string { r.Proof = append(r.Proof, r.Proof[0]); return "" },
		"checkpoint_size": func(r *audit.Receipt) string { r.Checkpoint = replace(r.Checkpoint, "\n90\n", "\n91\n"); return "" },
		"checkpoint_root": func(r *audit.Receipt) string { r.Checkpoint = replace(r.Checkpoint, "\n90\n", "\n90\n"+"A"); return "" },
		"checkpoint_sig": func(r *audit.Receipt) string {
			r.Checkpoint = r.Checkpoint[:len(r.Checkpoint)-6] + "AAAA=\n"
			return ""
		},
		"checkpoint_gone": func(r *audit.Receipt) string { r.Checkpoint = ""; return "" },
		"other_log_key":   func(r *audit.Receipt) string { return otherKey },
		"a_witness_key":   func(r *audit.Receipt) string { return witnessKey },
		"junk_key":        func(r *audit.Receipt) string { return "keyledger/*>+0000+junk" },
		"checkpoint_other": func(r *audit.Receipt) string {
			r.Checkpoint = string(signedAt(t, store2(t, evs), 90, signer))
			return ""
		},
	}
	for name, f := range alter {
		t.Run(name, func(t *testing.T) {
			r, err := audit.ParseReceipt(b)
			if err != nil {
				t.Fatal(err)
			}
			key := vkey
			if k := f(r); k != "" {
				key = k
			}
			if _, err := audit.CheckReceipt(r, key); err == nil {
				t.Fatal("the altered receipt passes")
			}
		})
	}
	for name, junk := range map[string]string{
		"unknown_field": string(bytes.Replace(b, []byte(`{"seq"`), []byte(`{"extra":1,"seq"`), 1)),
		"trailing_data": string(b) + "{}",
		// encoding/json keeps the last seq; another checker reads the first.
		"duplicate_field": string(bytes.Replace(b, []byte(`{"seq"`), []byte(`{"seq":999999,"seq"`), 1)),
		"not_json":        "kl_not_a_receipt",
		"bad_hash":        string(bytes.Replace(b, []byte(`"leaf_hash":"`), []byte(`"leaf_hash":"!`), 1)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := audit.ParseReceipt([]byte(junk)); err == nil {
				t.Fatal("a malformed receipt parses")
			}
		})
	}
}

func replace(s, old, new string) string {
	out := string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
	if out == s {
		panic("replace: " + old + " not found")
	}
	return out
}

// store2 is a second log with one event changed, signed by the same key: a
// valid checkpoint of another tree of the same size.
func store2(t *testing.T, evs []audit.Event) *audit.HashStore {
	db := MustOpenDB(t)
	other := append([]audit.Event(nil), evs...)
	other[51] = audit.Event{Seq: 52, Data: []byte("rewritten history")}
	appendAll(t, db, other, 100)
	return audit.NewHashStore(db)
}

// TestCheckReceiptErrorsAreTyped checks that a tampered receipt fails with
// ErrProof and one checked with another log's verifier key with
// ErrCheckpointSignature, naming the key that signed and the key given (the
// likeliest mix-up is `audit pubkey` run against another data directory,
// and the admin must be able to tell that from a forgery).
func TestCheckReceiptErrorsAreTyped(t *testing.T) {
	db := MustOpenDB(t)
	store := audit.NewHashStore(db)
	evs := testEvents(10)
	appendAll(t, db, evs, 10)
	signer, verifier, vkey := newKey(t, testOrigin)
	r, err := store.NewReceipt(context.Background(), 3, evs[2].Data, signedAt(t, store, 10, signer))
	if err != nil {
		t.Fatal(err)
	}
	_, otherVerifier, other := newKey(t, testOrigin)
	_, err = audit.CheckReceipt(r, other)
	if !errors.Is(err, audit.ErrCheckpointSignature) {
		t.Fatalf("another key: %v, want ErrCheckpointSignature", err)
	}
	for _, v := range []note.Verifier{verifier, otherVerifier} {
		if id := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()); !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name key %s", err, id)
		}
	}
	r.Event = []byte("tampered")
	if _, err := audit.CheckReceipt(r, vkey); !errors.Is(err, audit.ErrProof) {
		t.Fatalf("tampered event: %v, want ErrProof", err)
	}
}
