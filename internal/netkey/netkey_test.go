package netkey

import (
	"net/netip"
	"testing"
)

func TestKeys(t *testing.T) {
	for in, want := range map[string][2]string{
		"192.0.2.7":            {"192.0.2.7", "192.0.2.0/24"},
		"::ffff:192.0.2.7":     {"192.0.2.7", "192.0.2.0/24"},
		"2001:db8:1:2:3:4:5:6": {"2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		"2001:db8:1:2::9":      {"2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		"fe80::1%eth0":         {"fe80::/64", "fe80::/64"},
		"127.0.0.1":            {"127.0.0.1", "127.0.0.0/24"},
	} {
		a := netip.MustParseAddr(in)
		if got := Client(a); got != want[0] {
			t.Errorf("Client(%s) = %s, want %s", in, got, want[0])
		}
		if got := Network(a); got != want[1] {
			t.Errorf("Network(%s) = %s, want %s", in, got, want[1])
		}
	}
}
