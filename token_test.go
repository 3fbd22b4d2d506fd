package keyledger_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
)

func TestTokenRoundTrip(t *testing.T) {
	const keyID = "01J9ZQ4X8M3V6N2B7C5D1E0F9G"
	var secret [32]byte
	rand.Read(secret[:])
	token, hash := keyledger.NewToken(keyID, secret)
	if !strings.HasPrefix(token, "kl_"+keyID+"_") || len(token) != keyledger.TokenLen {
		t.Fatalf("token %q has the wrong shape", token)
	}
	id, s, ok := keyledger.ParseToken(token)
	if !ok || id != keyID {
		t.Fatalf("parse: %q %v", id, ok)
	}
	if !keyledger.SecretMatches(s, hash) {
		t.Fatal("secret does not match its own hash")
	}
	if strings.Contains(hash, s) || len(hash) != 64 {
		t.Fatal("hash is not a SHA-256 hex digest of the secret")
	}
}

func TestTokenChecksumCatchesTypos(t *testing.T) {
	var secret [32]byte
	token, _ := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", secret)
	for i := 3; i < len(token); i++ {
		if token[i] == '_' {
			continue
		}
		b := []byte(token)
		b[i] = map[bool]byte{true: 'b', false: 'a'}[b[i] == 'a']
		if _, _, ok := keyledger.ParseToken(string(b)); ok {
			t.Fatalf("a typo at %d passed the checksum", i)
		}
	}
	for _, bad := range []string{"", "kl_", token[:len(token)-1], token + "0", "xx" + token[2:], strings.Replace(token, "_", "-", 1)} {
		if _, _, ok := keyledger.ParseToken(bad); ok {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func TestWrongSecretDoesNotMatch(t *testing.T) {
	var a, b [32]byte
	b[0] = 1
	_, hash := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", a)
	other, _ := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", b)
	_, s, _ := keyledger.ParseToken(other)
	if keyledger.SecretMatches(s, hash) || keyledger.SecretMatches(s, "nothex") {
		t.Fatal("a wrong secret matched")
	}
}
