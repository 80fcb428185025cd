package transport

import (
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAddr(t *testing.T) {
	v4 := UDPAddr(netip.MustParseAddrPort("192.0.2.1:1884"))
	mapped := UDPAddr(netip.MustParseAddrPort("[::ffff:192.0.2.1]:1884"))
	v6 := UDPAddr(netip.MustParseAddrPort("[2001:db8::1]:1884"))
	radio := XBeeAddr(0x0013A20040A1B2C3)
	if v4 != mapped {
		t.Errorf("UDPAddr does not unmap: %v != %v", v4, mapped)
	}
	peers := map[Addr]int{v4: 1, v6: 2, radio: 3}
	if peers[mapped] != 1 || len(peers) != 3 {
		t.Errorf("Addr as map key: %v", peers)
	}
	for _, tt := range []struct {
		a    Addr
		kind Kind
		s    string
	}{
		{Addr{}, KindNone, "none"},
		{v4, KindUDP, "192.0.2.1:1884"},
		{v6, KindUDP, "[2001:db8::1]:1884"},
		{radio, KindXBee, "xbee:0013a20040a1b2c3"},
	} {
		if tt.a.Kind() != tt.kind || tt.a.String() != tt.s || tt.a.IsValid() != (tt.kind != KindNone) {
			t.Errorf("Addr %v: Kind %v String %q IsValid %v; want %v %q", tt.a, tt.a.Kind(), tt.a.String(), tt.a.IsValid(), tt.kind, tt.s)
		}
	}
	if radio.EUI64() != 0x0013A20040A1B2C3 || v6.AddrPort().Port() != 1884 {
		t.Errorf("accessors: %x %v", radio.EUI64(), v6.AddrPort())
	}
}
