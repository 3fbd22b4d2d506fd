package audit_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyledger/keyledger/audit"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestLoadOrCreateKeyKeepsThePrivateKeyIn0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	signer, vkey, err := audit.LoadOrCreateKey(path, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "PRIVATE+KEY+"+testOrigin+"+") {
		t.Fatal("key file does not hold a note signer key")
	}
	if strings.Contains(vkey, "PRIVATE") || !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Fatalf("verifier key %q is not a public note key", vkey)
	}

	// Loading again gives the same key, and its printed verifier key checks
	// what it signs.
	signer2, vkey2, err := audit.LoadOrCreateKey(path, testOrigin)
	if err != nil || vkey2 != vkey {
		t.Fatalf("reload: %v, verifier key %q want %q", err, vkey2, vkey)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	c := audit.Checkpoint{Origin: testOrigin, Size: 1, Root: tlog.RecordHash(nil)}
	for _, s := range []note.Signer{signer, signer2} {
		msg, err := audit.SignCheckpoint(c, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.OpenCheckpoint(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("the printed verifier key does not verify the key's signature: %v", err)
		}
	}

	if _, _, err := audit.LoadOrCreateKey(path, "keyledger/OTHER"); err == nil {
		t.Fatal("a key for another origin was accepted")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = audit.LoadOrCreateKey(path, testOrigin)
	if err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	if strings.Contains(err.Error(), string(b[12:40])) {
		t.Fatal("the error shows key material")
	}
}

func TestLoadOrCreateKeyNeverShowsAMalformedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	secret := "PRIVATE+KEY+" + testOrigin + "+deadbeef+c2VjcmV0LXNlY3JldC1zZWNyZXQ="
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := audit.LoadOrCreateKey(path, testOrigin)
	if err == nil {
		t.Fatal("a malformed key was accepted")
	}
	if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("error %q shows key material", err)
	}
	if _, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "bad name with spaces"); err == nil {
		t.Fatal("a key name with spaces was accepted")
	}
}

// TestLoadWitnessKeyNeverCreatesOne: reading the witness key (as `audit
// pubkey --witness` does) leaves a directory without one as it was.
func TestLoadWitnessKeyNeverCreatesOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "witness.key")
	if _, _, err := audit.LoadWitnessKey(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no key: %v, want not-exist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key file was created: %v", err)
	}
	_, created, err := audit.LoadOrCreateWitnessKey(path, audit.Origin+"/witness/w1")
	if err != nil {
		t.Fatal(err)
	}
	if _, read, err := audit.LoadWitnessKey(path); err != nil || read != created {
		t.Fatalf("read back %q (%v), want %q", read, err, created)
	}
}
