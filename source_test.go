package keyledger

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNATSSourceTamesTheClientsName: a client names its own connection, so
// the name an audit source keeps is cut short and holds nothing that would
// not print (a forged second line in `audit list`, a terminal escape).
func TestNATSSourceTamesTheClientsName(t *testing.T) {
	for _, tc := range []struct{ host, name, want string }{
		{"", "", "nats"},
		{"10.0.0.1", "", "nats 10.0.0.1"},
		{"10.0.0.1", "edge-gw", "nats 10.0.0.1 (edge-gw)"},
		{"10.0.0.1", "ok\nseq 99 admin revoked", "nats 10.0.0.1 (ok?seq 99 admin revoked)"},
		{"10.0.0.1", "\x1b[31mred\u202e", "nats 10.0.0.1 (?[31mred?)"},
		{"10.0.0.1", "Grüße", "nats 10.0.0.1 (Grüße)"},
	} {
		if got := NATSSource(tc.host, tc.name); got != tc.want {
			t.Errorf("NATSSource(%q, %q) = %q, want %q", tc.host, tc.name, got, tc.want)
		}
	}
	long := NATSSource("10.0.0.1", strings.Repeat("é", 4096))
	if n := utf8.RuneCountInString(long); n > len("nats 10.0.0.1 ()")+MaxClientName+1 {
		t.Fatalf("a 4,096-character name gave a %d-character source", n)
	}
}
