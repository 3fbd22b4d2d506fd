package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyledger/keyledger"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a tree head in the C2SP checkpoint format
// (https://c2sp.org/tlog-checkpoint): the log's origin, the number of leaves
// and the root hash of the tree of that size.
type Checkpoint struct {
	// Origin names the log, e.g. "keyledger/<stream-id>"; the log's own
	// signature keys carry it as their name.
	Origin string
	Size   int64
	Root   tlog.Hash
	// Extensions are optional further lines of the note text, kept as read.
	Extensions []string
}

// maxCheckpointText bounds a checkpoint's text; a real one is ~100 bytes.
const maxCheckpointText = 4096

// Text returns the note text: origin, size and base64 root, one per line,
// then any extension lines, each ending in a newline.
func (c Checkpoint) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, c.Root)
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// validOrigin reports whether origin can be a note key name, which the log's
// signatures must carry: non-empty UTF-8 without spaces or '+'.
func validOrigin(origin string) bool {
	return origin != "" && utf8.ValidString(origin) && !strings.ContainsFunc(origin, func(r rune) bool {
		return unicode.IsSpace(r) || r == '+' || unicode.IsControl(r)
	})
}

// ParseCheckpoint parses a checkpoint's note text (without signatures).
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(why string) (Checkpoint, error) {
		return Checkpoint{}, keyledger.Errorf(keyledger.EInvalid, "audit: malformed checkpoint: %s", why)
	}
	if len(text) > maxCheckpointText {
		return bad("too long")
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("text must end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return bad("want origin, size and root hash lines")
	}
	c := Checkpoint{Origin: lines[0]}
	if !validOrigin(c.Origin) {
		return bad("origin is not a valid key name")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return bad("size is not a decimal number without sign or leading zeros")
	}
	c.Size = size
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return bad("root is not a base64 SHA-256 hash")
	}
	copy(c.Root[:], raw)
	for _, e := range lines[3:] {
		if e == "" {
			return bad("empty extension line")
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint returns the checkpoint as a signed note, signed by every
// signer. At least one signer must be the log's own: named c.Origin.
func SignCheckpoint(c Checkpoint, signers ...note.Signer) ([]byte, error) {
	if !validOrigin(c.Origin) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: checkpoint origin %q is not a valid key name", c.Origin)
	}
	own := false
	for _, s := range signers {
		own = own || s.Name() == c.Origin
	}
	if !own {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: no signer is named after origin %q", c.Origin)
	}
	return note.Sign(&note.Note{Text: string(c.Text())}, signers...)
}

// SignedCheckpoint is a checkpoint whose signatures OpenCheckpoint verified.
type SignedCheckpoint struct {
	Checkpoint
	// Signers names the keys whose signatures verified, as "name+hash".
	Signers []string
	// Note is the signed note as received, for storing and passing on.
	Note []byte
}

// ErrCheckpointSignature is wrapped by every error OpenCheckpoint returns for
// a checkpoint whose signatures do not prove it came from the log.
var ErrCheckpointSignature = errors.New("checkpoint signature not verified")

// OpenCheckpoint parses a signed checkpoint and verifies its signatures with
// the known verifiers. It fails, wrapping ErrCheckpointSignature, when a
// known key's signature is invalid or when no known key named after the
// origin signed it; signatures by unknown keys are kept but not counted.
func OpenCheckpoint(msg []byte, known note.Verifiers) (*SignedCheckpoint, error) {
	sc, _, err := openCheckpoint(msg, known)
	return sc, err
}

func openCheckpoint(msg []byte, known note.Verifiers) (*SignedCheckpoint, *note.Note, error) {
	if len(msg) > maxCheckpointText*4 {
		return nil, nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed checkpoint: too long")
	}
	n, err := note.Open(msg, known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			// Name the keys that did sign: the usual cause is a verifier
			// key taken from another log (another data directory).
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return nil, nil, fmt.Errorf("audit: %w: signed only by keys not known here (%s)", ErrCheckpointSignature, strings.Join(by, ", "))
		}
		var invalid *note.InvalidSignatureError
		if errors.As(err, &invalid) {
			return nil, nil, fmt.Errorf("audit: %w: %w", ErrCheckpointSignature, err)
		}
		return nil, nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed checkpoint note: %v", err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, nil, err
	}
	sc := &SignedCheckpoint{Checkpoint: c, Note: msg}
	own := false
	for _, s := range n.Sigs {
		sc.Signers = append(sc.Signers, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		own = own || s.Name == c.Origin
	}
	if !own {
		return nil, nil, fmt.Errorf("audit: %w: no known key named %q signed it", ErrCheckpointSignature, c.Origin)
	}
	return sc, n, nil
}

// CosignCheckpoint adds signer's signature to a signed checkpoint, keeping
// every signature already on it, after checking it with OpenCheckpoint: an
// instance co-signs only a checkpoint it verified. (The caller compares the
// root with its own tree first.)
func CosignCheckpoint(msg []byte, known note.Verifiers, signer note.Signer) ([]byte, error) {
	_, n, err := openCheckpoint(msg, known)
	if err != nil {
		return nil, err
	}
	return note.Sign(n, signer)
}

// checkpointNoteText returns the text part of a signed note without checking
// any signature: what precedes the last blank line, as note.Open splits it.
func checkpointNoteText(msg []byte) ([]byte, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, false
	}
	return msg[:i+1], true
}

// AddCosignature returns the signed checkpoint msg with the signature that
// witness (a verifier key, "<name>+<hash>+<key>") made over the same
// checkpoint in cosigned. The witness's signature must verify and its text
// must be msg's; msg keeps every signature it has, and one already on it is
// not added twice. msg's own signatures are not checked here: whoever reads
// the result opens it with the keys they trust.
func AddCosignature(msg, cosigned []byte, witness string) ([]byte, error) {
	v, err := note.NewVerifier(witness)
	if err != nil {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed witness key: %v", err)
	}
	if c, err := ParseCheckpoint(bytesBeforeSignatures(msg)); err == nil && v.Name() == c.Origin {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: witness key %q is named as the log", v.Name())
	}
	text, ok := checkpointNoteText(msg)
	if !ok {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: malformed checkpoint note")
	}
	if other, ok := checkpointNoteText(cosigned); !ok || !bytes.Equal(text, other) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "audit: the co-signed note is not this checkpoint")
	}
	n, err := note.Open(cosigned, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("audit: %w: witness %s: %w", ErrCheckpointSignature, v.Name(), err)
	}
	out := bytes.Clone(msg)
	for _, s := range n.Sigs { // only the witness's: the one key given
		line := "\u2014 " + s.Name + " " + s.Base64 + "\n"
		if !bytes.Contains(msg[len(text):], []byte(line)) {
			out = append(out, line...)
		}
	}
	return out, nil
}

// Witnesses returns the signers of sc that are not the log itself: the
// witnesses whose signatures verified, as "name+hash".
func (sc *SignedCheckpoint) Witnesses() []string {
	var out []string
	for _, s := range sc.Signers {
		if !strings.HasPrefix(s, sc.Origin+"+") {
			out = append(out, s)
		}
	}
	return out
}

// bytesBeforeSignatures is a signed note's text, or nil.
func bytesBeforeSignatures(msg []byte) []byte {
	text, _ := checkpointNoteText(msg)
	return text
}
