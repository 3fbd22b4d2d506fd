package natsauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyledger/keyledger"
)

// Gateway credentials: a gateway connects with the NATS token
// klgw_<name>_<secret>; keyledger keeps SHA-256(secret) in
// DATA/gateways/<name>. Withdrawing the credential (WithdrawGatewayCredential)
// leaves the word "withdrawn" there instead; deleting the file withdraws it
// too, but an instance started after the deletion does not know the
// gateway was ever there, and leaves a connection it made open.
const (
	gatewayPrefix = "klgw_"
	gatewayDir    = "gateways"
	// gatewayWithdrawn is what a withdrawn credential's file holds.
	gatewayWithdrawn = "withdrawn"
)

// NewGatewayCredential creates the gateway credential name in the data
// directory dir and returns its token, which is not stored anywhere. A
// withdrawn credential of that name is replaced; one that holds is not.
func NewGatewayCredential(dir, name string) (string, error) {
	if !keyledger.IsGatewayName(name) {
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
// DIR/gateways/<name> (mode 0600). A credential already recorded there is
// not replaced, unless it was withdrawn.
func recordGateway(dir, name, secret string) error {
	if err := os.MkdirAll(filepath.Join(dir, gatewayDir), 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, gatewayDir, name)
	if _, withdrawn, err := readGateway(dir, name); err == nil && withdrawn {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	sum := sha256.Sum256([]byte(secret))
	return WriteSecret(path, []byte(hex.EncodeToString(sum[:])))
}

// WithdrawGatewayCredential withdraws the credential of gateway name in
// dir: the gateway's next connection is refused, and a running instance
// closes the ones open (see Callout.SweepGateways) within about a second,
// after a restart too. It reports whether a credential that held was
// withdrawn; withdrawing one again is no change.
func WithdrawGatewayCredential(dir, name string) (bool, error) {
	if !keyledger.IsGatewayName(name) {
		return false, keyledger.Errorf(keyledger.EInvalid, "gateway name: 1-32 of a-z, 0-9 and -, starting with a letter or digit")
	}
	sum, withdrawn, err := readGateway(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return false, keyledger.Errorf(keyledger.ENotFound, "this instance has no credential for gateway %q (%s)", name, filepath.Join(dir, gatewayDir))
	} else if err != nil && !errors.Is(err, errNotGatewayRecord) {
		return false, err
	}
	if withdrawn {
		return false, nil
	}
	// The withdrawn secret's hash stays, so that the same credential is
	// not let in again by adding it (--from) anew.
	mark := gatewayWithdrawn
	if err == nil {
		mark += " " + hex.EncodeToString(sum[:])
	}
	path := filepath.Join(dir, gatewayDir, name)
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(mark+"\n"), 0o600); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

// AddGatewayCredential records in dir a gateway credential that another
// instance made (NewGatewayCredential there), so that this instance lets
// the gateway in too: every instance that answers the callout must know
// every gateway's credential. It returns the gateway's name. A credential
// already recorded is accepted again; another one under the same name is
// a conflict, so that a typo does not lock a gateway out, unless that one
// was withdrawn.
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
	old, withdrawn, err := readGateway(dir, name)
	switch {
	case withdrawn && old == sha256.Sum256([]byte(secret)):
		return "", keyledger.Errorf(keyledger.EConflict, "this credential of gateway %q was withdrawn here; make a new one (gateway-credentials --name %s) instead of adding it again", name, name)
	case !errors.Is(err, os.ErrNotExist) && !withdrawn:
		return "", keyledger.Errorf(keyledger.EConflict, "this instance has another credential for gateway %q; withdraw it first to replace it (gateway-credentials --withdraw %s), or remove %s", name, name, path)
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
	return name, secret, ok && keyledger.IsGatewayName(name) && len(secret) == 64
}

// errNotGatewayRecord is the error of a gateway file that holds neither a
// hash nor the withdrawn mark.
var errNotGatewayRecord = errors.New("not a gateway credential record")

// readGateway reads the record of gateway name in dir: the SHA-256 of its
// secret, or withdrawn. The error wraps os.ErrNotExist when there is none.
func readGateway(dir, name string) (sum [32]byte, withdrawn bool, err error) {
	if dir == "" || !keyledger.IsGatewayName(name) {
		return sum, false, os.ErrNotExist
	}
	b, err := readRecord(filepath.Join(dir, gatewayDir, name))
	if err != nil {
		return sum, false, err
	}
	text := strings.TrimSpace(string(b))
	if rest, ok := strings.CutPrefix(text, gatewayWithdrawn); ok && (rest == "" || rest[0] == ' ') {
		// The withdrawn secret's hash, if the mark kept one.
		if h := strings.TrimSpace(rest); len(h) == 2*len(sum) {
			_, _ = hex.Decode(sum[:], []byte(h))
		}
		return sum, true, nil
	}
	if len(text) != 2*len(sum) {
		return sum, false, fmt.Errorf("%s: %w", filepath.Join(dir, gatewayDir, name), errNotGatewayRecord)
	}
	if n, err := hex.Decode(sum[:], []byte(text)); err != nil || n != len(sum) {
		return sum, false, fmt.Errorf("%s: %w", filepath.Join(dir, gatewayDir, name), errNotGatewayRecord)
	}
	return sum, false, nil
}

// maxRecord bounds what is read of a gateway file: a hash, or the
// withdrawn mark and a hash.
const maxRecord = 256

// readRecord reads a gateway file, which must be a regular file (not a
// symbolic link, a FIFO that would block the callout for ever, or a
// device), and at most maxRecord bytes of it.
func readRecord(path string) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (not a regular file)", path, errNotGatewayRecord)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() { // replaced meanwhile
		return nil, fmt.Errorf("%s: %w (not a regular file)", path, errNotGatewayRecord)
	}
	return io.ReadAll(io.LimitReader(f, maxRecord))
}

// checkGateway reports whether token is a gateway credential recorded in
// dir, and its name.
func checkGateway(dir, token string) (string, bool) {
	name, secret, ok := parseGateway(token)
	if !ok {
		return "", false
	}
	want, withdrawn, err := readGateway(dir, name)
	sum := sha256.Sum256([]byte(secret))
	if err != nil || withdrawn || subtle.ConstantTimeCompare(want[:], sum[:]) != 1 {
		return "", false
	}
	return name, true
}

// gatewayUser is the NATS user name of a connection made with the
// credential of gateway name and secret.
func gatewayUser(name, secret string) string {
	return keyledger.GatewayUserPrefix + name + ":" + keyledger.SecretTag(sha256.Sum256([]byte(secret)))
}
