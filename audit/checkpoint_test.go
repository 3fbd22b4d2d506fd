package audit_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointIsC2SPText(t *testing.T) {
	root := tlog.RecordHash([]byte("x"))
	c := audit.Checkpoint{Origin: testOrigin, Size: 1234, Root: root}
	want := testOrigin + "\n1234\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
	if got := string(c.Text()); got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
	s, v, _ := newKey(t, testOrigin)
	msg, err := audit.SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), want+"\n— "+testOrigin+" ") {
		t.Fatalf("signed checkpoint is not text, blank line, signature line:\n%s", msg)
	}
	sc, err := audit.OpenCheckpoint(msg, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Origin != c.Origin || sc.Size != c.Size || sc.Root != c.Root || len(sc.Signers) != 1 {
		t.Fatalf("opened %+v, want %+v signed once", sc.Checkpoint, c)
	}
}

func TestParseCheckpointRejectsMalformedText(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for name, text := range map[string]string{
		"no_final_newline":  testOrigin + "\n1\n" + root,
		"two_lines":         testOrigin + "\n1\n",
		"leading_zero_size": testOrigin + "\n01\n" + root + "\n",
		"negative_size":     testOrigin + "\n-1\n" + root + "\n",
		"plus_size":         testOrigin + "\n+1\n" + root + "\n",
		"size_with_space":   testOrigin + "\n 1\n" + root + "\n",
		"huge_size":         testOrigin + "\n99999999999999999999\n" + root + "\n",
		"short_root":        testOrigin + "\n1\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n",
		"root_not_base64":   testOrigin + "\n1\n*>*>\n",
		"root_unpadded":     testOrigin + "\n1\n" + strings.TrimRight(root, "=") + "\n",
		"empty_origin":      "\n1\n" + root + "\n",
		"origin_with_space": "keyledger/a b\n1\n" + root + "\n",
		"origin_with_plus":  "keyledger/a+b\n1\n" + root + "\n",
		"empty_extension":   testOrigin + "\n1\n" + root + "\n\n",
		"way_too_long":      testOrigin + "\n1\n" + root + "\n" + strings.Repeat("e", 5000) + "\n",
		"empty":             "",
		"junk":              "\x00\xff junk",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := audit.ParseCheckpoint([]byte(text)); !errors.Is(err, keyledger.ErrInvalid) {
				t.Fatalf("ParseCheckpoint(%q) = %v, want invalid", text, err)
			}
		})
	}
	ext := testOrigin + "\n1\n" + root + "\nwitness-hint ünï\n"
	c, err := audit.ParseCheckpoint([]byte(ext))
	if err != nil || len(c.Extensions) != 1 || string(c.Text()) != ext {
		t.Fatalf("an extension line does not round-trip: %+v, %v", c, err)
	}
}

func TestOpenCheckpointNeedsTheLogsOwnValidSignature(t *testing.T) {
	log1, v1, _ := newKey(t, testOrigin)
	log2, v2, _ := newKey(t, testOrigin) // a second instance of the same log
	wit, vw, _ := newKey(t, "witness.example/w1")
	_, vOther, _ := newKey(t, testOrigin)
	c := audit.Checkpoint{Origin: testOrigin, Size: 7, Root: tlog.RecordHash([]byte("r"))}
	msg, err := audit.SignCheckpoint(c, log1)
	if err != nil {
		t.Fatal(err)
	}
	// Co-signing keeps the first signature.
	co, err := audit.CosignCheckpoint(msg, note.VerifierList(v1), log2)
	if err != nil {
		t.Fatal(err)
	}
	co, err = audit.CosignCheckpoint(co, note.VerifierList(v1), wit)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := audit.OpenCheckpoint(co, note.VerifierList(v1, v2, vw))
	if err != nil || len(sc.Signers) != 3 {
		t.Fatalf("co-signed checkpoint: %v, signers %v, want 3", err, sc)
	}
	if _, err := audit.OpenCheckpoint(co, note.VerifierList(v2)); err != nil {
		t.Fatalf("the second instance's key alone does not open the co-signed checkpoint: %v", err)
	}

	sigLine := bytes.LastIndex(msg, []byte(" ")) + 1
	forged := bytes.Clone(msg)
	forged[sigLine+10] = 'A' // one base64 character of the signature itself
	if msg[sigLine+10] == 'A' {
		forged[sigLine+10] = 'B'
	}
	resized := bytes.Replace(msg, []byte("\n7\n"), []byte("\n8\n"), 1)
	for name, tc := range map[string]struct {
		msg   []byte
		known note.Verifiers
	}{
		"forged_signature":       {forged, note.VerifierList(v1)},
		"text_altered_after_sig": {resized, note.VerifierList(v1)},
		"unknown_key":            {msg, note.VerifierList(vOther)},
		"only_a_witness_known":   {co, note.VerifierList(vw)},
		"no_verifiers":           {msg, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := audit.OpenCheckpoint(tc.msg, tc.known)
			if !errors.Is(err, audit.ErrCheckpointSignature) {
				t.Fatalf("OpenCheckpoint = %v, want ErrCheckpointSignature", err)
			}
		})
	}
	for name, junk := range map[string]string{
		"no_signature_block": string(c.Text()),
		"junk_signature":     string(c.Text()) + "\n— " + testOrigin + " !!!\n",
		"control_characters": "\x01\x02\n\n— x AAAA\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := audit.OpenCheckpoint([]byte(junk), note.VerifierList(v1)); err == nil || errors.Is(err, audit.ErrCheckpointSignature) {
				t.Fatalf("OpenCheckpoint = %v, want a malformed note error", err)
			}
		})
	}
	if _, err := audit.SignCheckpoint(c, wit); !errors.Is(err, keyledger.ErrInvalid) {
		t.Fatalf("signing with only a witness key: %v, want invalid", err)
	}
}
