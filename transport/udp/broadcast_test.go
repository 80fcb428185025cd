package udp

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/snbridge/snbridge/transport"
)

func TestParseBroadcast(t *testing.T) {
	for _, tt := range []struct {
		s, network string
		want       string // "" for the zero AddrPort
		wantErr    bool
	}{
		{"", "udp4", "", false},
		{"255.255.255.255:1884", "udp4", "255.255.255.255:1884", false},
		{"192.168.1.255:1884", "udp4", "192.168.1.255:1884", false},
		{"225.1.1.1:1884", "udp4", "225.1.1.1:1884", false},
		{"225.1.1.1:1884", "udp", "225.1.1.1:1884", false},
		{"[::ffff:225.1.1.1]:1884", "udp4", "225.1.1.1:1884", false},
		{"[ff02::1]:1884", "udp6", "[ff02::1]:1884", false},
		{"[ff02::1%eth0]:1884", "udp6", "[ff02::1%eth0]:1884", false},
		{"[ff02::1]:1884", "udp", "[ff02::1]:1884", false},
		{"255.255.255.255:1884", "udp6", "", true}, // IPv4 target, IPv6-only socket
		{"[ff02::1]:1884", "udp4", "", true},       // IPv6 group, IPv4-only socket
		{"[2001:db8::ff]:1884", "udp6", "", true},  // IPv6 has no broadcast
		{"255.255.255.255:0", "udp4", "", true},
		{"0.0.0.0:1884", "udp4", "", true},
		{"255.255.255.255", "udp4", "", true},
		{"broadcast:1884", "udp4", "", true},
	} {
		t.Run(fmt.Sprintf("%s/%s", tt.network, tt.s), func(t *testing.T) {
			got, err := parseBroadcast(tt.s, tt.network)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseBroadcast(%q, %q) error = %v, want error %v", tt.s, tt.network, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			var want netip.AddrPort
			if tt.want != "" {
				want = netip.MustParseAddrPort(tt.want)
			}
			if got != want {
				t.Errorf("parseBroadcast(%q, %q) = %v, want %v", tt.s, tt.network, got, want)
			}
		})
	}
}

func TestBroadcastAddr(t *testing.T) {
	c := listenT(t, Config{Listen: "0.0.0.0:0", Broadcast: "255.255.255.255:1884"})
	want := transport.UDPAddr(netip.MustParseAddrPort("255.255.255.255:1884"))
	if got := c.BroadcastAddr(); got != want {
		t.Errorf("BroadcastAddr = %v, want %v", got, want)
	}
	if got := listenT(t, Config{Listen: "127.0.0.1:0"}).BroadcastAddr(); got.IsValid() {
		t.Errorf("BroadcastAddr without Broadcast = %v, want the zero Addr", got)
	}
	if _, err := Listen(Config{Listen: "[::1]:0", Broadcast: "255.255.255.255:1884"}); err == nil {
		t.Error("Listen accepted an IPv4 broadcast on an IPv6-only socket")
	}
}

// freePort returns a UDP port free on both IPv4 and IPv6 wildcards a moment
// ago, for a listener that must know its port before it binds (a multicast
// group's port is the listener's).
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

// multicastInterface returns an up, multicast-capable interface with an
// address of the wanted family, or nil when the host has none.
func multicastInterface(t *testing.T, v6 bool) *net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (ipn.IP.To4() == nil) == v6 {
				return ifi
			}
		}
	}
	return nil
}

// TestMulticast checks that a listener whose broadcast target is a
// multicast group receives a client's datagram sent to the group (a
// multicast SEARCHGW) and its own broadcasts (multicast loopback). On a
// host without a multicast-capable interface it checks that Listen still
// succeeds: the join failure is only logged.
func TestMulticast(t *testing.T) {
	for _, tt := range []struct {
		name, listen, group string
		v6                  bool
	}{
		{"ipv4", "0.0.0.0", "225.1.1.1", false},
		{"dualstack-ipv4group", "", "225.1.1.2", false},
		{"ipv6", "[::]", "[ff02::1%%%s]", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ifi := multicastInterface(t, tt.v6)
			port := freePort(t)
			group := tt.group
			if tt.v6 {
				name := "lo"
				if ifi != nil {
					name = ifi.Name
				}
				group = fmt.Sprintf(group, name)
			}
			gw := listenT(t, Config{
				Listen:    fmt.Sprintf("%s:%d", tt.listen, port),
				Broadcast: fmt.Sprintf("%s:%d", group, port),
			})
			if ifi == nil {
				t.Logf("no multicast-capable interface: only Listen was checked")
				return
			}
			client := listenT(t, Config{Listen: ":0"})
			searchgw := []byte{3, 0x01, 1}
			ch := readAsync(t, gw)
			if _, err := client.WriteTo(searchgw, gw.BroadcastAddr()); err != nil {
				t.Fatalf("client WriteTo(%v): %v", gw.BroadcastAddr(), err)
			}
			r := await(t, ch)
			if r.err != nil || !bytes.Equal(r.data, searchgw) {
				t.Fatalf("gateway ReadFrom = %x, %v; want the multicast SEARCHGW", r.data, r.err)
			}
			if r.from.AddrPort().Port() != client.LocalAddr().AddrPort().Port() {
				t.Errorf("SEARCHGW from %v, want port of %v", r.from, client.LocalAddr())
			}
			advertise := []byte{5, 0x00, 1, 0, 60}
			ch = readAsync(t, gw)
			if _, err := gw.WriteTo(advertise, gw.BroadcastAddr()); err != nil {
				t.Fatalf("gateway WriteTo(%v): %v", gw.BroadcastAddr(), err)
			}
			if r := await(t, ch); r.err != nil || !bytes.Equal(r.data, advertise) {
				t.Fatalf("gateway ReadFrom own ADVERTISE = %x, %v", r.data, r.err)
			}
		})
	}
}
