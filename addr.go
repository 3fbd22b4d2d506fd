package keyledger

import "net/netip"

// ClientBucket is what per-address limits count a client address under:
// an IPv4 address itself, an IPv6 address its /64, since one host or one
// customer is commonly given a whole /64 and can use any address in it.
// The zero Addr is "".
func ClientBucket(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return ""
	case a.Is4():
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}
