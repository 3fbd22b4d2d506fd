package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/strictjson"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Receipt is a self-contained proof that one event is in the log: the
// event's exact stored bytes and sequence, its leaf hash, the inclusion proof
// and the signed checkpoint it is proved against. CheckReceipt checks it with
// nothing but the log's verifier key: no server, no data directory.
type Receipt struct {
	Seq uint64 `json:"seq"`
	// Event is the exact bytes the stream stores at Seq (base64 in JSON).
	Event    []byte    `json:"event"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	// Proof is the inclusion proof of leaf Seq-1 in the checkpoint's tree.
	Proof tlog.RecordProof `json:"proof"`
	// Checkpoint is the signed checkpoint note, as text.
	Checkpoint string `json:"checkpoint"`
}

// maxReceipt bounds a receipt's JSON; events are small and proofs ~64 hashes.
const maxReceipt = 4 << 20

// NewReceipt builds the receipt of the event at seq with bytes data against
// the signed checkpoint, whose tree the store must hold. It checks the
// result with the checkpoint's own text, so a receipt it returns verifies for
// whoever trusts the checkpoint's signer.
func (s *HashStore) NewReceipt(ctx context.Context, seq uint64, data, signedCheckpoint []byte) (*Receipt, error) {
	text, ok := checkpointNoteText(signedCheckpoint)
	if !ok {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed checkpoint note")
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	root, err := s.TreeHead(ctx, c.Size)
	if err != nil {
		return nil, err
	}
	if root != c.Root {
		return nil, &DivergenceError{Seq: 1, Through: uint64(c.Size), What: CheckpointRoot, Checkpoint: c.Size,
			Detail: "the stored tree's root differs from the checkpoint's"}
	}
	proof, err := s.InclusionProof(ctx, seq, c.Size)
	if err != nil {
		return nil, err
	}
	r := &Receipt{Seq: seq, Event: bytes.Clone(data), LeafHash: LeafHash(seq, data), Proof: proof, Checkpoint: string(signedCheckpoint)}
	if err := CheckLeafInclusion(r.Proof, c.Size, c.Root, seq, r.LeafHash); err != nil {
		return nil, fmt.Errorf("audit: event bytes given for seq %d are not the stored ones: %w", seq, err)
	}
	return r, nil
}

// ParseReceipt decodes a receipt from JSON, strictly: unknown fields, a
// field named twice (another checker may read the other one) and trailing
// data are refused.
func ParseReceipt(b []byte) (*Receipt, error) {
	if len(b) > maxReceipt {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: receipt too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Receipt
	if err := dec.Decode(&r); err != nil {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed receipt: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed receipt: trailing data")
	}
	if name, ok := strictjson.DuplicateField(b); ok {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed receipt: field %s appears twice", keyledger.Quote(name))
	}
	return &r, nil
}

// Cosigners returns the names of the keys other than the log's that signed
// the receipt's checkpoint, each once, without checking any signature: what
// a receipt carries, for deciding whether to fetch it again. Only
// CheckReceipt, with the witnesses' keys, says whose signatures hold.
func (r *Receipt) Cosigners() []string {
	text, ok := checkpointNoteText([]byte(r.Checkpoint))
	if !ok {
		return nil
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(r.Checkpoint[len(text):], "\n"), "\n") {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "\u2014 "), " ")
		if ok && strings.HasPrefix(line, "\u2014 ") && name != c.Origin && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// CheckReceipt checks a receipt offline against the log's verifier key
// ("<name>+<hash>+<base64 key>"): the checkpoint is signed by that key and
// its name is the checkpoint's origin, the leaf hash is the hash of the
// event's bytes at its sequence, and the proof places that leaf at index
// seq-1 of the checkpoint's tree. It returns the checkpoint the event is
// proved against. Any altered byte of event, seq, leaf hash, proof or
// checkpoint makes it fail.
//
// witnessKeys are verifier keys of witnesses the checker trusts: a
// signature by one of them must verify too, and the checkpoint's
// Witnesses() are those that signed it (the caller decides how many it
// needs). Signatures by keys not given are ignored.
func CheckReceipt(r *Receipt, verifierKey string, witnessKeys ...string) (*SignedCheckpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed verifier key: %v", err)
	}
	known := []note.Verifier{v}
	seen := map[string]bool{}
	for _, k := range witnessKeys {
		w, err := note.NewVerifier(k)
		if err != nil {
			return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed witness key: %v", err)
		}
		if w.Name() == v.Name() {
			return nil, keyledger.Errorf(keyledger.EInvalid, "audit: witness key %q is named as the log: a witness has a key of its own", w.Name())
		}
		if id := fmt.Sprintf("%s+%08x", w.Name(), w.KeyHash()); !seen[id] {
			seen[id] = true
			known = append(known, w)
		}
	}
	sc, err := OpenCheckpoint(trustedSignatures([]byte(r.Checkpoint), v, known[1:]), note.VerifierList(known...))
	if err != nil {
		if errors.Is(err, ErrCheckpointSignature) {
			return nil, fmt.Errorf("%w; the verifier key given is %s+%08x", err, v.Name(), v.KeyHash())
		}
		return nil, err
	}
	if v.Name() != sc.Origin {
		return nil, fmt.Errorf("audit: %w: verifier key %q is not the log %q's", ErrCheckpointSignature, v.Name(), sc.Origin)
	}
	if r.Seq == 0 {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: receipt has no sequence")
	}
	if leaf := LeafHash(r.Seq, r.Event); leaf != r.LeafHash {
		return nil, fmt.Errorf("audit: receipt for seq %d: %w: leaf hash is not the hash of the event at that sequence", r.Seq, ErrProof)
	}
	if err := CheckLeafInclusion(r.Proof, sc.Size, sc.Root, r.Seq, r.LeafHash); err != nil {
		return nil, err
	}
	return sc, nil
}

// trustedSignatures returns msg with only the signature lines a checker can
// use: the first of the log's that verifies (without one, msg as it is, for
// OpenCheckpoint to refuse) and each given witness's that verifies on its
// own. Lines by other keys, or a witness line that does not
// verify (say, by a key made to share a witness's name and hash), are
// dropped, so no one can make a receipt fail for a checker by adding
// signatures to it; they only fail to count.
func trustedSignatures(msg []byte, log note.Verifier, witnesses []note.Verifier) []byte {
	text, ok := checkpointNoteText(msg)
	if !ok {
		return msg // OpenCheckpoint says what is wrong with it
	}
	out := append(bytes.Clone(text), '\n')
	logSigned := false
	verifies := func(line string, v note.Verifier) bool {
		_, err := note.Open(append(append(bytes.Clone(text), '\n'), line...), note.VerifierList(v))
		return err == nil
	}
	for _, line := range strings.SplitAfter(string(msg[len(text)+1:]), "\n") {
		name, hash, ok := signatureKey(line)
		if !ok {
			continue
		}
		if name == log.Name() && hash == log.KeyHash() {
			if !logSigned && verifies(line, log) {
				out, logSigned = append(out, line...), true
			}
			continue
		}
		for _, w := range witnesses {
			if name == w.Name() && hash == w.KeyHash() {
				if verifies(line, w) {
					out = append(out, line...)
				}
				break
			}
		}
	}
	if !logSigned {
		return msg // the log's own signature does not verify: OpenCheckpoint says so
	}
	return out
}

// signatureKey reads the key name and hash of one note signature line,
// "— <name> <base64(hash || signature)>\n".
func signatureKey(line string) (string, uint32, bool) {
	rest, ok := strings.CutPrefix(line, "\u2014 ")
	if !ok || !strings.HasSuffix(rest, "\n") {
		return "", 0, false
	}
	name, b64, ok := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
	if !ok {
		return "", 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 5 {
		return "", 0, false
	}
	return name, binary.BigEndian.Uint32(raw), true
}
