package keyledger

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// A NATS connection made with an API key is named KEYID:TAG by the auth
// callout, where TAG names the secret it presented: 16 hex digits of
// SHA-256 over "keyledger connection " and the secret's SHA-256. The name
// is signed by the callout, so no client chooses it, and a request made on
// the connection acts as the key only while the key's current secret has
// that tag: once the key is regenerated, a connection made with the old
// secret is no longer the key, even if it is still open.
const connTagLen = 16

// ConnectionUser is the NATS user name for a connection authenticated with
// key keyID and secret (a token's secret part).
func ConnectionUser(keyID, secret string) string {
	return keyID + ":" + connectionTag(sha256.Sum256([]byte(secret)))
}

// SecretTag is the tag (see ConnectionUser) of the secret whose SHA-256 is
// hash: what a connection made with that secret carries in its user name.
func SecretTag(hash [32]byte) string { return connectionTag(hash) }

// ParseConnectionUser splits a NATS user name made by ConnectionUser; ok is
// false for any other name.
func ParseConnectionUser(user string) (keyID, tag string, ok bool) {
	keyID, tag, ok = strings.Cut(user, ":")
	if !ok || !IsID(keyID) || len(tag) != connTagLen {
		return "", "", false
	}
	return keyID, tag, true
}

// ConnectionTagHolds reports in constant time whether tag names the secret
// whose SHA-256 is hash.
func ConnectionTagHolds(tag string, hash [32]byte) bool {
	return subtle.ConstantTimeCompare([]byte(tag), []byte(connectionTag(hash))) == 1
}

func connectionTag(hash [32]byte) string {
	sum := sha256.Sum256(append([]byte("keyledger connection "), hash[:]...))
	return hex.EncodeToString(sum[:connTagLen/2])
}

// A Proof is how a caller shows that it holds a key's current secret: the
// secret itself, from a token (SecretProof), or the tag of the secret a
// NATS connection was authorized with (ConnectionProof).
type Proof struct {
	sum  [32]byte
	tag  string
	conn bool
}

// SecretProof is the proof of a token's secret part.
func SecretProof(secret string) Proof { return Proof{sum: sha256.Sum256([]byte(secret))} }

// ConnectionProof is the proof of a NATS connection whose user name (see
// ConnectionUser) carries tag.
func ConnectionProof(tag string) Proof { return Proof{tag: tag, conn: true} }

// Holds reports in constant time whether p proves the secret whose SHA-256
// is hash.
func (p Proof) Holds(hash [32]byte) bool {
	if p.conn {
		return ConnectionTagHolds(p.tag, hash)
	}
	return subtle.ConstantTimeCompare(p.sum[:], hash[:]) == 1
}

// HoldsHex is Holds for a hash stored as hex; false if it is malformed.
func (p Proof) HoldsHex(storedHash string) bool {
	var hash [32]byte
	if len(storedHash) != 2*len(hash) {
		return false
	}
	if _, err := hex.Decode(hash[:], []byte(storedHash)); err != nil {
		return false
	}
	return p.Holds(hash)
}

// GatewayUserPrefix begins the NATS user name the auth callout gives a
// connection made with a gateway credential: gateway:<name>:<tag>, the tag
// naming the secret it presented, as ConnectionUser's does for keys.
const GatewayUserPrefix = "gateway:"

// IsGatewayName reports whether name can name a gateway credential: 1 to
// 32 lower-case letters, digits and '-', not starting with '-'.
func IsGatewayName(name string) bool {
	if name == "" || len(name) > 32 || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseGatewayUser splits a gateway connection's NATS user name; tag is ""
// in a name given before connections carried one (gateway:<name>).
func ParseGatewayUser(user string) (name, tag string, ok bool) {
	rest, ok := strings.CutPrefix(user, GatewayUserPrefix)
	if !ok {
		return "", "", false
	}
	name, tag, _ = strings.Cut(rest, ":")
	return name, tag, IsGatewayName(name)
}
