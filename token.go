package keyledger

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
)

// Token layout: kl_<keyID>_<secret base62><crc32 base62>. The key ID is a
// 26-character ULID, the secret 32 random bytes in 43 base62 characters, and
// the checksum covers everything before it so typos are caught without a
// lookup.
const (
	tokenPrefix    = "kl_"
	keyIDLen       = 26
	secretLen      = 43
	checksumLen    = 6
	secretStart    = len(tokenPrefix) + keyIDLen + 1
	checksumStart  = secretStart + secretLen
	TokenLen       = checksumStart + checksumLen // TokenLen is the length of every token.
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewToken builds the token for a key ID and 32 secret bytes, and returns it
// with the hex SHA-256 of its secret part: the only form that is ever stored.
func NewToken(keyID string, secret [32]byte) (token, secretHash string) {
	s := encodeBase62(new(big.Int).SetBytes(secret[:]), secretLen)
	body := tokenPrefix + keyID + "_" + s
	token = body + encodeBase62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), checksumLen)
	return token, HashSecret(s)
}

// HashSecret returns the hex SHA-256 of a token's secret part.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ParseToken splits a token into key ID and secret after checking its shape
// and checksum. It allocates nothing; ok is false for anything malformed.
func ParseToken(token string) (keyID, secret string, ok bool) {
	if len(token) != TokenLen || !strings.HasPrefix(token, tokenPrefix) || token[secretStart-1] != '_' {
		return "", "", false
	}
	var sum uint64
	for i := checksumStart; i < TokenLen; i++ {
		d := base62Digit(token[i])
		if d < 0 {
			return "", "", false
		}
		sum = sum*62 + uint64(d)
	}
	if sum != uint64(crc32String(token[:checksumStart])) {
		return "", "", false
	}
	return token[len(tokenPrefix) : secretStart-1], token[secretStart:checksumStart], true
}

// SecretMatches reports in constant time whether secret hashes to the stored
// hex hash.
func SecretMatches(secret, storedHash string) bool {
	return SecretProof(secret).HoldsHex(storedHash)
}

// crc32String is crc32.ChecksumIEEE over a string without converting it to
// bytes, which would allocate on the verification path.
func crc32String(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

func encodeBase62(n *big.Int, width int) string {
	out := make([]byte, width)
	base, mod := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62Alphabet[mod.Int64()]
	}
	return string(out)
}

func base62Digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
