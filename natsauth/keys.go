package natsauth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/keyledger/keyledger"
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

// Gateway credentials: a gateway connects with the NATS token
// klgw_<name>_<secret>; keyledger keeps SHA-256(secret) in
// DATA/gateways/<name>. Deleting that file withdraws the credential.
const (
	gatewayPrefix = "klgw_"
	gatewayDir    = "gateways"
	// gatewayUserPrefix begins a gateway's NATS user name (the callout
	// names it gateway:<name>), as monitoring shows it.
	gatewayUserPrefix = "gateway:"
)

var gatewayName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// NewGatewayCredential creates the gateway credential name in the data
// directory dir and returns its token, which is not stored anywhere.
func NewGatewayCredential(dir, name string) (string, error) {
	if !gatewayName.MatchString(name) {
		return "", keyledger.Errorf(keyledger.EInvalid, "gateway name: 1-32 of a-z, 0-9 and -, starting with a letter or digit")
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(secret[:])
	if err := recordGateway(dir, name, s); err != nil {
		return "", err
	}
	return gatewayPrefix + name + "_" + s, nil
}

// recordGateway stores the SHA-256 of a gateway's secret as
// DIR/gateways/<name> (mode 0600); an existing file is not replaced.
func recordGateway(dir, name, secret string) error {
	if err := os.MkdirAll(filepath.Join(dir, gatewayDir), 0o700); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(secret))
	return WriteSecret(filepath.Join(dir, gatewayDir, name), []byte(hex.EncodeToString(sum[:])))
}

// AddGatewayCredential records in dir a gateway credential that another
// instance made (NewGatewayCredential there), so that this instance lets
// the gateway in too: every instance that answers the callout must know
// every gateway's credential. It returns the gateway's name. A credential
// already recorded is accepted again; another one under the same name is
// a conflict, so that a typo does not lock a gateway out.
func AddGatewayCredential(dir, token string) (string, error) {
	token = strings.TrimSpace(token)
	name, secret, ok := parseGateway(token)
	if _, err := hex.DecodeString(secret); !ok || err != nil {
		return "", keyledger.Errorf(keyledger.EInvalid, "not a gateway credential: want klgw_<name>_<64 hex digits>")
	}
	if _, ok := checkGateway(dir, token); ok {
		return name, nil
	}
	path := filepath.Join(dir, gatewayDir, name)
	if _, err := os.Stat(path); err == nil {
		return "", keyledger.Errorf(keyledger.EConflict, "this instance has another credential for gateway %q; remove %s first to replace it", name, path)
	}
	return name, recordGateway(dir, name, secret)
}

// GatewayCredentialName returns the gateway a credential names, if token
// has the shape of one.
func GatewayCredentialName(token string) (string, bool) {
	name, _, ok := parseGateway(strings.TrimSpace(token))
	return name, ok
}

// IsGatewayCredential reports whether token has the shape of a gateway
// credential (klgw_<name>_<secret>); only the server can tell if it holds.
func IsGatewayCredential(token string) bool {
	_, _, ok := parseGateway(token)
	return ok
}

// parseGateway splits a gateway token into its name and secret.
func parseGateway(token string) (name, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, gatewayPrefix)
	if !ok {
		return "", "", false
	}
	name, secret, ok = strings.Cut(rest, "_")
	return name, secret, ok && gatewayName.MatchString(name) && len(secret) == 64
}

// checkGateway reports whether token is a gateway credential recorded in
// dir, and its name.
func checkGateway(dir, token string) (string, bool) {
	name, secret, ok := parseGateway(token)
	if !ok || dir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(dir, gatewayDir, name))
	if err != nil {
		return "", false
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(b)))
	sum := sha256.Sum256([]byte(secret))
	if err != nil || subtle.ConstantTimeCompare(want, sum[:]) != 1 {
		return "", false
	}
	return name, true
}
