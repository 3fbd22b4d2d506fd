package natsauth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// Keys are keyledger's own NATS credentials: the nkey of its user in the
// ledger account, and the account nkey that signs auth callout answers
// (nil when this instance does not answer the callout).
type Keys struct {
	Service nkeys.KeyPair
	Issuer  nkeys.KeyPair
}

// Files in the data directory that hold the embedded server's keys, each
// one nkey seed, mode 0600.
const (
	ServiceSeedFile = "nats-service.nk"
	IssuerSeedFile  = "nats-callout.nk"
)

// LoadOrCreateKeys reads the embedded server's keys from dir, creating them
// at first start.
func LoadOrCreateKeys(dir string) (*Keys, error) {
	svc, err := loadOrCreate(filepath.Join(dir, ServiceSeedFile), nkeys.CreateUser)
	if err != nil {
		return nil, err
	}
	issuer, err := loadOrCreate(filepath.Join(dir, IssuerSeedFile), nkeys.CreateAccount)
	if err != nil {
		return nil, err
	}
	return &Keys{Service: svc, Issuer: issuer}, nil
}

func loadOrCreate(path string, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, error) {
	kp, err := ReadSeed(path)
	if !errors.Is(err, os.ErrNotExist) {
		return kp, err
	}
	if kp, err = create(); err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	if err := WriteSecret(path, seed); err != nil {
		return nil, err
	}
	return kp, nil
}

// ReadSeed reads an nkey seed file (one seed, as `nsc` or `nk -gen` write it).
func ReadSeed(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not an nkey seed", path) // never echo the file
	}
	return kp, nil
}

// WriteSecret writes a secret file with mode 0600, all or nothing, and
// refuses to replace one that exists.
func WriteSecret(path string, secret []byte) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; remove it first to replace it", path)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(bytes.TrimSpace(secret), '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
