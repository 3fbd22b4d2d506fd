package main

import (
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

// TestKeyTableAlignsWideNames: a key named in Japanese, or with combining
// accents, must not shift the rest of its row: every OWNER cell starts at
// the same terminal column as the heading's.
func TestKeyTableAlignsWideNames(t *testing.T) {
	exp := time.Date(2027, 3, 7, 13, 8, 0, 0, time.UTC)
	var keys []*keyledger.Key
	for _, name := range []string{"日本語のキー", "ci", "ｆｕｌｌ", "cafe\u0301-e\u0301te\u0301", "🔑 deploy"} {
		keys = append(keys, &keyledger.Key{ID: "01M989S5YH1HJTYDHC0TR1HC4A", Name: name, Owner: "01M989S5X97AQE9DCHBDSGGYEB", OwnerName: "alice", Status: keyledger.StatusActive, ExpiresAt: &exp, EffectiveExpiresAt: &exp})
	}
	var out strings.Builder
	printKeys(&out, keys)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	col := func(line, cell string) int {
		i := strings.Index(line, cell)
		if i < 0 {
			t.Fatalf("no %q in %q", cell, line)
		}
		return displayWidth(line[:i])
	}
	want := col(lines[0], "OWNER")
	for _, l := range lines[1:] {
		if got := col(l, "alice"); got != want {
			t.Errorf("owner at column %d, heading at %d:\n%s", got, want, out.String())
		}
	}
}

func TestDisplayWidth(t *testing.T) {
	for s, want := range map[string]int{"": 0, "alice": 5, "日本": 4, "ｂｏｂ": 6, "e\u0301": 1, "a\u200bb": 2, "🔑": 2} {
		if got := displayWidth(s); got != want {
			t.Errorf("displayWidth(%q) = %d, want %d", s, got, want)
		}
	}
}
