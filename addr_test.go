package keyledger

import (
	"net/netip"
	"testing"
)

// TestClientBucket: an IPv6 /64 is one bucket, however many addresses a
// host takes from it; IPv4 addresses, mapped or not, are their own.
func TestClientBucket(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":          "203.0.113.9",
		"::ffff:203.0.113.9":   "203.0.113.9",
		"2001:db8:1:2::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"fe80::1%eth0":         "fe80::/64",
	} {
		if got := ClientBucket(netip.MustParseAddr(in)); got != want {
			t.Errorf("ClientBucket(%s) = %q, want %q", in, got, want)
		}
	}
	if got := ClientBucket(netip.Addr{}); got != "" {
		t.Errorf("the zero Addr: %q", got)
	}
}
