package keyledger

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// IDLen is the length of a key or user ID: a ULID.
const IDLen = 26

// IsID reports whether s has the shape of a ULID: 26 characters of Crockford
// base32, upper case, the first at most 7.
func IsID(s string) bool {
	if len(s) != IDLen || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	return true
}

// LooksSecret reports whether s could be a token or a piece of one: it holds
// "kl_", or is a run of base62 characters longer than an ID (a mistyped ID is
// short enough to show; a third of a secret is not). Such a value is never
// repeated in an error or a log line.
func LooksSecret(s string) bool {
	if strings.Contains(strings.ToLower(s), tokenPrefix) {
		return true
	}
	if len(s) < IDLen+2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if base62Digit(s[i]) < 0 && s[i] != '_' {
			return false
		}
	}
	return true
}

// Quote returns s quoted for an error message, or, when s could be a token
// or secret, a description that does not repeat it.
func Quote(s string) string {
	if LooksSecret(s) {
		return fmt.Sprintf("(a value of %d characters that looks like a token, not shown)", len(s))
	}
	if len(s) > 60 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) { // not inside a character
			cut--
		}
		return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// tokenKeyID returns the key ID inside something shaped like a token, even a
// mistyped one: the ID is not secret, and naming it tells the caller what to
// pass instead.
func tokenKeyID(s string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	if !ok || len(rest) < IDLen || !IsID(rest[:IDLen]) {
		return "", false
	}
	return rest[:IDLen], true
}

// CheckKeyID checks that id, given as field, is a key ID. Its error never
// repeats a token: for one it names the key ID to pass instead.
func CheckKeyID(field, id string) error {
	switch {
	case id == "":
		return Errorf(EInvalid, "%s is required", field)
	case IsID(id):
		return nil
	}
	if keyID, ok := tokenKeyID(id); ok {
		return Errorf(EInvalid, "%s: that is a token, not a key ID; pass the key ID %s (keep the token secret)", field, keyID)
	}
	if LooksSecret(id) {
		return Errorf(EInvalid, "%s: that looks like a token or secret, not a key ID; pass the key ID (26 characters such as 01J9Z3…)", field)
	}
	if up := strings.ToUpper(id); up != id && IsID(up) {
		return Errorf(EInvalid, "%s: %s is not a key ID: IDs are written in capitals (%s)", field, Quote(id), up)
	}
	return Errorf(EInvalid, "%s: %s is not a key ID (26 characters such as 01J9Z3…)", field, Quote(id))
}

// CheckNotToken refuses a token where a user ID or name is expected, without
// repeating it. Only "kl_" counts here: a long user name is not a secret.
func CheckNotToken(field, s string) error {
	if !strings.Contains(strings.ToLower(s), tokenPrefix) {
		return nil
	}
	if keyID, ok := tokenKeyID(s); ok {
		return Errorf(EInvalid, "%s: that is a token (of key %s), not a user; pass a user ID (keep the token secret)", field, keyID)
	}
	return Errorf(EInvalid, "%s: that looks like a token or secret, not a user; pass a user ID", field)
}

// ContainsToken reports whether s holds a whole token (checksum and all)
// anywhere: text that would store a secret in the immutable event stream.
func ContainsToken(s string) bool {
	for i := strings.Index(s, tokenPrefix); i >= 0 && len(s)-i >= TokenLen; {
		if _, _, ok := ParseToken(s[i : i+TokenLen]); ok {
			return true
		}
		next := strings.Index(s[i+1:], tokenPrefix)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}
