package keyledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// FuzzParseToken: anything ParseToken accepts has the token's shape and its
// checksum, and any single-character change of a valid token is caught.
func FuzzParseToken(f *testing.F) {
	var secret [32]byte
	valid, _ := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", secret)
	for _, s := range []string{valid, "", "kl_", "kl_*_>", strings.ToUpper(valid), valid[:len(valid)-1], valid + "x",
		"kl_01J9ZQ4X8M3V6N2B7C5D1E0F9G_" + strings.Repeat("é", 25), "Bearer " + valid} {
		f.Add(s, 0, byte('x'))
	}
	f.Fuzz(func(t *testing.T, s string, pos int, c byte) {
		id, sec, ok := keyledger.ParseToken(s)
		if ok {
			if len(s) != keyledger.TokenLen || !strings.HasPrefix(s, "kl_"+id+"_"+sec) || len(id) != 26 || len(sec) != 43 {
				t.Fatalf("accepted %q as key %q secret %q", s, id, sec)
			}
		}
		// One changed character of a valid token never passes the checksum.
		if pos < 0 {
			pos = -pos
		}
		pos %= len(valid)
		if valid[pos] == c {
			return
		}
		mutated := valid[:pos] + string([]byte{c}) + valid[pos+1:]
		if _, _, ok := keyledger.ParseToken(mutated); ok {
			t.Fatalf("a typo at %d (%q) passed: %q", pos, c, mutated)
		}
	})
}

// FuzzTokenRoundTrip: every secret makes a token that parses back to its
// key ID and a secret matching the stored hash, and to nothing else's.
func FuzzTokenRoundTrip(f *testing.F) {
	f.Add([]byte{}, []byte{1})
	f.Add([]byte(strings.Repeat("\xff", 32)), []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var sa, sb [32]byte
		copy(sa[:], a)
		copy(sb[:], b)
		token, hash := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", sa)
		id, secret, ok := keyledger.ParseToken(token)
		if !ok || id != "01J9ZQ4X8M3V6N2B7C5D1E0F9G" || !keyledger.SecretMatches(secret, hash) {
			t.Fatalf("round trip of %x: %q %v", sa, token, ok)
		}
		if strings.Contains(hash, secret) {
			t.Fatal("the stored hash contains the secret")
		}
		if sa != sb {
			_, other := keyledger.NewToken("01J9ZQ4X8M3V6N2B7C5D1E0F9G", sb)
			if keyledger.SecretMatches(secret, other) {
				t.Fatalf("secret of %x matches the hash of %x", sa, sb)
			}
		}
	})
}

// FuzzParsePeriod: a period that parses reaches forward in time, reads the
// same in either case, and fails with the invalid code otherwise.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"P90D", "PT12H", "P1Y2M3DT4H5M6S", "P2W", "p30d", "P", "PT", "P0D", "P1M1M", "P999999Y",
		"P999999D999999D999999D", "PT999999H999999H999999H", "PT1ſ", "PT-1H", "P1.5D", "P1D T1H", "never", "P1٣D", "P\x00D"} {
		f.Add(s)
	}
	base := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := keyledger.ParsePeriod(s)
		if err != nil {
			if keyledger.ErrorCode(err) != keyledger.EInvalid {
				t.Fatalf("%q: error %v has code %s", s, err, keyledger.ErrorCode(err))
			}
			return
		}
		for _, r := range s {
			if r > 127 {
				t.Fatalf("%q holds non-ASCII %q and still parses as %+v", s, r, p)
			}
		}
		if end := p.AddTo(base); !end.After(base) {
			t.Fatalf("%q = %+v moves %s to %s, not forward", s, p, base, end)
		}
		if back := p.SubFrom(base); !back.Before(base) {
			t.Fatalf("%q = %+v moves %s back to %s", s, p, base, back)
		}
		q, err := keyledger.ParsePeriod(strings.ToLower(s))
		if err != nil || q != p {
			t.Fatalf("%q parses as %+v but its lower case as %+v (%v)", s, p, q, err)
		}
	})
}
