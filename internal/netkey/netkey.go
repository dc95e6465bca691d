// Package netkey decides which key stands for a client's address wherever
// pinset counts or limits clients (the service's report and device
// limits, its adoption counts, the edge's rate limits), so that one
// subscriber is one key everywhere.
package netkey

import "net/netip"

// Client is the key of one client: the address itself for IPv4, its /64
// for IPv6 (a subscriber usually holds a whole /64, so per-address keys on
// IPv6 would be no limit). IPv4-mapped IPv6 addresses count as IPv4; a
// zone is dropped.
func Client(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Network is the key of the client's network: the /24 for IPv4, the /64
// for IPv6 (the unit that bounds how many installs one network may stand
// for in adoption counts).
func Network(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		p, _ := a.Prefix(24)
		return p.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
