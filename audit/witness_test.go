package audit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/audit"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/note"
)

// witness is one instance's witness over l, with its own key and state.
func (l *ledger) witness(t *testing.T, dir string) (*audit.Witness, string) {
	t.Helper()
	signer, vkey, err := audit.LoadOrCreateWitnessKey(filepath.Join(dir, "witness.key"), audit.Origin+"/witness/"+ulid.Make().String())
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Witness{DB: l.db.SQL(), Store: l.store, Signer: signer, VerifierKey: vkey,
		Log: note.VerifierList(logKey), StatePath: filepath.Join(dir, "witness.state")}, vkey
}

// cosign runs w once and wants want, without error.
func cosign(t *testing.T, w *audit.Witness, want bool) {
	t.Helper()
	got, err := w.Once(context.Background())
	if err != nil || got != want {
		t.Fatalf("witness: co-signed %v (%v), want %v", got, err, want)
	}
}

// receipt is the receipt of the key's revocation, as a checker receives it.
func (l *ledger) receipt(t *testing.T, keyID string) *audit.Receipt {
	t.Helper()
	rc, err := l.svc.AuditProve(context.Background(), l.admin, commands.ProveQuery{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(rc)
	r, err := audit.ParseReceipt(body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWitnessesCoSignAndReceiptsCarryTheirSignatures: two instances'
// witnesses co-sign the newest checkpoint once each; a receipt then carries
// both signatures, a checker holding their keys counts them, an altered
// co-signature fails, and verify reports both witnesses.
func TestWitnessesCoSignAndReceiptsCarryTheirSignatures(t *testing.T) {
	l := startLedger(t)
	id := l.story(t)
	l.checkpoint(t)
	w1, k1 := l.witness(t, t.TempDir())
	w2, k2 := l.witness(t, t.TempDir())
	cosign(t, w1, true)
	cosign(t, w2, true)
	l.caughtUp(t)
	cosign(t, w1, false) // once per checkpoint
	cosign(t, w2, false)
	// Co-signatures are not growth: no checkpoint is due for them.
	if ok, err := l.cp.Once(context.Background()); err != nil || ok {
		t.Fatalf("a checkpoint of a tree that grew only by co-signatures: %v %v", ok, err)
	}
	r := l.receipt(t, id)
	sc, err := audit.CheckReceipt(r, l.vkey, k1, k2)
	if err != nil {
		t.Fatalf("co-signed receipt: %v", err)
	}
	if got := sc.Witnesses(); len(got) != 2 {
		t.Fatalf("witnesses on the receipt: %v, want 2", got)
	}
	if sc, err := audit.CheckReceipt(r, l.vkey, k1); err != nil || len(sc.Witnesses()) != 1 {
		t.Fatalf("a checker that knows one witness: %v", err)
	}
	if sc, err := audit.CheckReceipt(r, l.vkey); err != nil || len(sc.Witnesses()) != 0 {
		t.Fatalf("a checker that knows no witness: %v", err)
	}
	// Flip one byte in the second witness's signature (past its key hash,
	// which would make it a signature by a key the checker does not know).
	lines := strings.Split(r.Checkpoint, "\n")
	last := lines[len(lines)-2]
	i := len(last) - 10
	c := byte('A')
	if last[i] == 'A' {
		c = 'B'
	}
	lines[len(lines)-2] = last[:i] + string(c) + last[i+1:]
	bad := *r
	bad.Checkpoint = strings.Join(lines, "\n")
	if sc, err := audit.CheckReceipt(&bad, l.vkey, k1, k2); err != nil || len(sc.Witnesses()) != 1 {
		t.Fatalf("an altered co-signature: %v, want it not counted", err)
	}
	// Signatures anyone may add (150 by keys no checker knows, one by a key
	// named and hashed like a trusted witness's... here, its line altered)
	// make no receipt fail: they do not count.
	junk := *r
	for range 150 {
		s, _, _ := newKey(t, "junk.example")
		signed, err := note.Sign(&note.Note{Text: r.Checkpoint[:strings.Index(r.Checkpoint, "\n\n")+1]}, s)
		if err != nil {
			t.Fatal(err)
		}
		junk.Checkpoint += string(signed[strings.Index(string(signed), "\n\n")+2:])
	}
	// A forged line under the log's own name and key hash, put first.
	at := strings.Index(junk.Checkpoint, "\n\n") + 2
	real := junk.Checkpoint[at : at+strings.Index(junk.Checkpoint[at:], "\n")]
	raw, err := base64.StdEncoding.DecodeString(real[strings.LastIndexByte(real, ' ')+1:])
	if err != nil {
		t.Fatal(err)
	}
	forged := append(raw[:4:4], bytes.Repeat([]byte{7}, 64)...)
	junk.Checkpoint = junk.Checkpoint[:at] + "\u2014 " + audit.Origin + " " + base64.StdEncoding.EncodeToString(forged) + "\n" + junk.Checkpoint[at:]
	if sc, err := audit.CheckReceipt(&junk, l.vkey, k1, k2); err != nil || len(sc.Witnesses()) != 2 {
		t.Fatalf("a receipt with 151 more signatures: %v", err)
	}
	rep, err := l.verify(t)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(rep.Witnesses) != 2 || rep.Witnesses[0].Key != k1 || rep.Witnesses[1].Key != k2 || rep.Witnesses[0].Cosigned != 1 {
		t.Fatalf("witnesses reported: %+v", rep.Witnesses)
	}
	// A newer checkpoint no witness has co-signed yet: the receipt is
	// proved against the newest co-signed one that covers the event.
	l.story(t)
	l.checkpoint(t)
	if sc, err := audit.CheckReceipt(l.receipt(t, id), l.vkey, k1, k2); err != nil || len(sc.Witnesses()) != 2 {
		t.Fatalf("receipt while the newest checkpoint awaits its witnesses: %v %v", err, sc)
	}
	// The next checkpoint is co-signed in turn.
	cosign(t, w1, true)
	l.caughtUp(t)
	if sc, err := audit.CheckReceipt(l.receipt(t, id), l.vkey, k1, k2); err != nil || len(sc.Witnesses()) != 1 {
		t.Fatalf("receipt against the newest, co-signed by one: %v %v", err, sc)
	}
	// A server told which witnesses to carry (serve --witness-key) leaves
	// the others out.
	l.svc.Trail = &audit.Trail{DB: l.db.SQL(), Events: l.store, Witnesses: []string{k2}}
	l.story(t)
	l.checkpoint(t)
	cosign(t, w1, true)
	cosign(t, w2, true)
	l.caughtUp(t)
	sc, err = audit.CheckReceipt(l.receipt(t, id), l.vkey, k1, k2)
	if err != nil || len(sc.Witnesses()) != 1 || !strings.HasPrefix(k2, strings.SplitN(sc.Witnesses()[0], "+", 2)[0]+"+") {
		t.Fatalf("receipt from a server that carries only the second witness: %v %v", err, sc)
	}
}

// TestWitnessRefusesACheckpointThatIsNotItsTree: a checkpoint signed by the
// log's own key but over another root, or by another key, is not co-signed;
// the refusal is reported once, then skipped quietly.
func TestWitnessRefusesACheckpointThatIsNotItsTree(t *testing.T) {
	forger, _, _ := newKey(t, audit.Origin)
	for name, forge := range map[string]func(l *ledger, size int64) *events.CheckpointSigned{
		"root of another size": func(l *ledger, size int64) *events.CheckpointSigned {
			ev := l.signedEvent(t, size-1, size-1, l.signer)
			cp, err := audit.ParseCheckpoint([]byte(strings.SplitN(ev.Note, "\n\n", 2)[0] + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			cp.Size = size
			signed, err := audit.SignCheckpoint(cp, l.signer)
			if err != nil {
				t.Fatal(err)
			}
			ev.Size, ev.Note = uint64(size), string(signed)
			return ev
		},
		"another key": func(l *ledger, size int64) *events.CheckpointSigned {
			return l.signedEvent(t, size, size, forger)
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := startLedger(t)
			l.story(t)
			l.checkpoint(t)
			w, _ := l.witness(t, t.TempDir())
			cosign(t, w, true)
			l.story(t)
			ctx := context.Background()
			size, err := audit.NewHashStore(l.db.SQL()).Size(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, lastCp, err := (&audit.Trail{DB: l.db.SQL()}).LatestCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.store.Append(ctx, events.SubjectCheckpoint, lastCp, "", []events.Event{forge(l, size)}); err != nil {
				t.Fatal(err)
			}
			l.caughtUp(t)
			if ok, err := w.Once(ctx); ok || !errors.Is(err, audit.ErrWitnessRefused) {
				t.Fatalf("witness on a forged checkpoint: %v %v, want refused", ok, err)
			}
			cosign(t, w, false) // reported once
			recs, _, err := l.store.Load(ctx, events.SubjectCosigned)
			if err != nil || len(recs) != 1 {
				t.Fatalf("%d co-signatures stored (%v), want only the first checkpoint's", len(recs), err)
			}
		})
	}
}

// TestWitnessRemembersWhatItCoSigned: a witness whose instance now follows
// another history (the stream replaced, ledger.db rebuilt) refuses every
// checkpoint of it, older, of the same size or larger.
func TestWitnessRemembersWhatItCoSigned(t *testing.T) {
	dir := t.TempDir()
	a := startLedger(t)
	a.story(t)
	a.story(t)
	a.checkpoint(t)
	wa, _ := a.witness(t, dir)
	cosign(t, wa, true)
	sizeA, err := audit.NewHashStore(a.db.SQL()).Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, stories := range map[string]int{"older": 0, "larger": 3} {
		t.Run(name, func(t *testing.T) {
			b := startLedger(t)
			for range stories {
				b.story(t)
			}
			b.checkpoint(t)
			if size, _ := audit.NewHashStore(b.db.SQL()).Size(context.Background()); (stories == 0) != (size < sizeA) {
				t.Fatalf("fixture: other history has %d events, the co-signed %d", size, sizeA)
			}
			// b's log key is its own; this witness trusts it, as if the
			// log's key had been used to sign a replaced history.
			wb, _ := b.witness(t, dir)
			if ok, err := wb.Once(context.Background()); ok || !errors.Is(err, audit.ErrWitnessRefused) {
				t.Fatalf("witness on a replaced history: %v %v, want refused", ok, err)
			}
		})
	}
}

// TestVerifyNamesABadCoSignature: a co-signature event whose note the
// witness it names did not sign is a divergence at its seq.
func TestVerifyNamesABadCoSignature(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	w1, k1 := l.witness(t, t.TempDir())
	_, k2 := l.witness(t, t.TempDir())
	cosign(t, w1, true)
	l.caughtUp(t)
	ctx := context.Background()
	recs, _, err := l.store.Load(ctx, events.SubjectCosigned)
	if err != nil || len(recs) != 1 {
		t.Fatalf("co-signatures: %d %v", len(recs), err)
	}
	ev := recs[0].Event.(*events.CheckpointCosigned)
	if ev.Witness != k1 {
		t.Fatalf("co-signature names %q, want %q", ev.Witness, k1)
	}
	ev.Witness = k2 // claims a witness that did not sign
	ev.At = time.Now().UTC()
	seq, err := l.store.Append(ctx, "", 0, "", []events.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	l.caughtUp(t)
	d := l.divergence(t)
	if d.What != audit.CosignSignature || d.Seq != seq {
		t.Fatalf("divergence %v, want %s at %d", d, audit.CosignSignature, seq)
	}
	// An altered row before it, read in the same batch, is the first.
	if _, err := l.db.SQL().Exec(`UPDATE audit_events SET actor = 'x' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if d := l.divergence(t); d.What != audit.RowContent || d.Seq != 3 {
		t.Fatalf("divergence %v, want %s at 3", d, audit.RowContent)
	}
}

// TestAReceiptForACoSignatureSignsNothing: asking for the newest event, a
// co-signature, does not sign a checkpoint for it (readers cannot grow the
// log).
func TestAReceiptForACoSignatureSignsNothing(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	w, _ := l.witness(t, t.TempDir())
	cosign(t, w, true)
	l.caughtUp(t)
	last, err := l.store.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := l.cp.Cover(context.Background(), last); err != nil || seq != 0 {
		t.Fatalf("cover of a co-signature signed %d (%v), want nothing", seq, err)
	}
}

// TestWitnessStateIsItsOwnOrRecoveredFromTheStream: the state file must be
// the witness's own co-signed note. Malformed, or written by another
// witness key, it stops the witness (and Status says why); removed, the
// witness goes on from its latest co-signature in the stream, without
// co-signing that checkpoint twice.
func TestWitnessStateIsItsOwnOrRecoveredFromTheStream(t *testing.T) {
	l := startLedger(t)
	l.story(t)
	l.checkpoint(t)
	dir := t.TempDir()
	w, _ := l.witness(t, dir)
	cosign(t, w, true)
	l.caughtUp(t)
	state := filepath.Join(dir, "witness.state")
	good, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	reopen := func() *audit.Witness {
		again, _ := l.witness(t, dir) // same key file: the same witness
		return again
	}
	for name, b := range map[string][]byte{
		"garbage":   []byte("garbage\n"),
		"bare text": good[:strings.Index(string(good), "\n\n")+1],
		"another witness's": func() []byte {
			other, _ := l.witness(t, t.TempDir())
			b, err := note.Sign(&note.Note{Text: string(good[:strings.Index(string(good), "\n\n")+1])}, l.signer, other.Signer)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			writeFile(t, state, b)
			w := reopen()
			if ok, err := w.Once(context.Background()); ok || !errors.Is(err, audit.ErrWitnessState) {
				t.Fatalf("witness with a %s state: %v %v, want a state error", name, ok, err)
			}
			if _, problem := w.Status(); !errors.Is(problem, audit.ErrWitnessState) {
				t.Fatalf("status: %v", problem)
			}
		})
	}
	cosigned, _ := w.Status()
	os.Remove(state)
	w = reopen()
	if err := w.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if size, problem := w.Status(); problem != nil || size != cosigned {
		t.Fatalf("witness without its state: goes on from size %d (%v), want %d from its co-signature in the stream", size, problem, cosigned)
	}
	cosign(t, w, false) // co-signed already
	l.story(t)
	l.checkpoint(t)
	cosign(t, w, true)
	recs, _, err := l.store.Load(context.Background(), events.SubjectCosigned)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d co-signatures stored (%v), want 2: one per checkpoint", len(recs), err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
