package keyledger_test

import (
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
)

func TestCheckKeyIDNeverRepeatsAToken(t *testing.T) {
	const keyID = "01J9Z3Q5W8X2M4N6P7R8S9T0VA"
	var secret [32]byte
	copy(secret[:], "a secret of thirty-two bytes....")
	token, _ := keyledger.NewToken(keyID, secret)
	secretPart := token[len("kl_")+len(keyID)+1:]
	for _, tc := range []struct {
		name, in string
		wantID   bool // the message names the key ID to pass instead
	}{
		{"whole_token", token, true},
		{"token_with_spaces", " " + token + "\n", true},
		{"mistyped_token", token[:len(token)-1] + "x", true},
		{"truncated_token", token[:40], true},
		{"secret_part_only", secretPart, false},
		{"a_third_of_the_secret", secretPart[:28], false},
		{"token_in_upper_case", strings.ToUpper(token), false},
		{"prefix_in_the_middle", "abc" + token, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keyledger.CheckKeyID("key_id", tc.in)
			if keyledger.ErrorCode(err) != keyledger.EInvalid {
				t.Fatalf("code %s, want invalid", keyledger.ErrorCode(err))
			}
			msg := err.Error()
			if strings.Contains(msg, secretPart[:12]) || strings.Contains(strings.ToLower(msg), strings.ToLower(secretPart[:12])) ||
				strings.Contains(msg, secretPart[1:13]) {
				t.Fatalf("the message repeats the secret: %s", msg)
			}
			if tc.wantID && !strings.Contains(msg, "pass the key ID "+keyID) {
				t.Fatalf("the message does not name the key ID to pass: %s", msg)
			}
		})
	}
	for _, ok := range []string{keyID, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if err := keyledger.CheckKeyID("key_id", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "01j9z3q5w8x2m4n6p7r8s9t0va", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01J9Z3Q5W8X2M4N6P7R8S9T0V*", "01J9Z3Q5W8X2M4N6P7R8S9T0V>",
		"01J9Z3Q5W8X2M4N6P7R8S9T0V.", "01J9Z3Q5W8X2M4N6P7R8S9T0 A", "01J9Z3Q5W8X2M4N6P7R8S9T0VÄ", "billing-key", "01J9Z3Q5W8X2M4N6P7R8S9T0VAA"} {
		if keyledger.ErrorCode(keyledger.CheckKeyID("key_id", bad)) != keyledger.EInvalid {
			t.Errorf("%q accepted as a key ID", bad)
		}
	}
}

func TestCheckNotToken(t *testing.T) {
	if err := keyledger.CheckNotToken("owner", "a name that is quite long but is no secret at all, really"); err != nil {
		t.Fatal(err)
	}
	err := keyledger.CheckNotToken("owner", "kl_01J9Z3Q5W8X2M4N6P7R8S9T0VA_SECRETSECRETSECRET")
	if keyledger.ErrorCode(err) != keyledger.EInvalid || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("%v", err)
	}
}

func TestContainsToken(t *testing.T) {
	var secret [32]byte
	token, _ := keyledger.NewToken("01J9Z3Q5W8X2M4N6P7R8S9T0VA", secret)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{token, true},
		{"my key is " + token + " ok", true},
		{"kl_kl_" + token, true},
		{"kl_test", false},
		{token[:len(token)-1] + "x", false}, // a wrong checksum is not a token
		{"", false},
	} {
		if got := keyledger.ContainsToken(tc.in); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestALowerCaseKeyIDIsToldToUseCapitals: ULIDs are often read without
// regard to case; keyledger's are canonical, so one typed in lower case
// is invalid, and the message gives it in capitals.
func TestALowerCaseKeyIDIsToldToUseCapitals(t *testing.T) {
	err := keyledger.CheckKeyID("KEY_ID", "01m98401ew3yc4b7kfjm9gvyf1")
	if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), "(01M98401EW3YC4B7KFJM9GVYF1)") {
		t.Fatalf("%v", err)
	}
}

// TestQuoteCutsWholeCharacters: a long value is cut short in messages, at
// a character's start, not inside one (a stray \xcc byte was printed).
func TestQuoteCutsWholeCharacters(t *testing.T) {
	q := keyledger.Quote(strings.Repeat("é", 40))
	if strings.Contains(q, `\x`) || !strings.Contains(q, "(80 bytes)") {
		t.Fatalf("%s", q)
	}
}
