package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/keyledger/keyledger"
	"golang.org/x/mod/sumdb/note"
)

// keyPrefix begins every note signer key (see note.NewSigner).
const keyPrefix = "PRIVATE+KEY+"

// LoadOrCreateKey returns the checkpoint signer whose key is in the file at
// path, and its verifier key ("<name>+<hash>+<base64 key>", what
// `keyledger audit pubkey` prints and what checkers pass to note.NewVerifier).
// When the file does not exist it generates an ed25519 key named name and
// writes it there with mode 0600, never replacing a file. A key file that
// group or others may read, or whose key is named other than name, is
// refused. Errors never contain the key.
func LoadOrCreateKey(path, name string) (signer note.Signer, verifierKey string, err error) {
	return loadOrCreate(path, name, func(have string) error {
		if have != name {
			return fmt.Errorf("audit: signing key %s is for %q, not %q", path, have, name)
		}
		return nil
	})
}

// LoadOrCreateWitnessKey returns this instance's witness key (see Witness)
// from the file at path, creating one named name there when there is none,
// with LoadOrCreateKey's care. A key file keeps its name for good: name is
// used only to create one. A witness key named after the log (Origin) is
// refused, since it would sign as the log itself.
func LoadOrCreateWitnessKey(path, name string) (signer note.Signer, verifierKey string, err error) {
	return loadOrCreate(path, name, witnessName(path))
}

// LoadWitnessKey reads the witness key at path, as LoadOrCreateWitnessKey
// does, but never creates one: a missing file is an error wrapping
// fs.ErrNotExist.
func LoadWitnessKey(path string) (signer note.Signer, verifierKey string, err error) {
	return loadOrCreate(path, "", witnessName(path))
}

// witnessName refuses a witness key named as the log.
func witnessName(path string) func(string) error {
	return func(have string) error {
		if have == Origin {
			return fmt.Errorf("audit: witness key %s is named %q, as the log's own key is: give each instance a key of its own", path, have)
		}
		return nil
	}
}

// loadOrCreate reads the key at path, which check must accept by name, or
// creates one named name (with name "", never).
func loadOrCreate(path, name string, check func(name string) error) (note.Signer, string, error) {
	if name != "" && !validOrigin(name) {
		return nil, "", keyledger.Errorf(keyledger.EInvalid, "audit: key name %q is not a valid note key name", name)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && name != "" {
		if err := check(name); err != nil {
			return nil, "", err
		}
		return createKey(path, name)
	}
	if err != nil {
		return nil, "", fmt.Errorf("audit: signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("audit: signing key %s has mode %v; it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("audit: read signing key: %w", err)
	}
	skey := strings.TrimSpace(string(b))
	signer, err := note.NewSigner(skey)
	if err != nil {
		// note's errors name no key material; say which file, not what is in it.
		return nil, "", fmt.Errorf("audit: signing key %s is malformed", path)
	}
	if err := check(signer.Name()); err != nil {
		return nil, "", err
	}
	vkey, err := verifierKeyOf(skey)
	if err != nil {
		return nil, "", fmt.Errorf("audit: signing key %s is malformed", path)
	}
	return signer, vkey, nil
}

func createKey(path, name string) (note.Signer, string, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, "", fmt.Errorf("audit: generate signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("audit: create signing key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, "", fmt.Errorf("audit: write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, "", fmt.Errorf("audit: write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, "", fmt.Errorf("audit: write signing key: %w", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("audit: new signing key unusable")
	}
	return signer, vkey, nil
}

// verifierKeyOf derives the verifier key from a note signer key
// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || ed25519 seed)>".
func verifierKeyOf(skey string) (string, error) {
	rest, ok := strings.CutPrefix(skey, keyPrefix)
	if !ok {
		return "", errors.New("not a signer key")
	}
	// A name has no '+'; the base64 key data may.
	parts := strings.SplitN(rest, "+", 3)
	if len(parts) != 3 {
		return "", errors.New("not a signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("not an ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[0], pub)
}
