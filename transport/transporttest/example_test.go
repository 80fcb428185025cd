package transporttest_test

import (
	"fmt"
	"net/netip"

	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

func Example() {
	bcast := transport.UDPAddr(netip.MustParseAddrPort("255.255.255.255:1884"))
	n := transporttest.New(transporttest.Config{Broadcast: bcast})
	gw := n.MustListen(transport.UDPAddr(netip.MustParseAddrPort("10.0.0.1:1884")))
	defer gw.Close()
	client := n.MustListen(transport.UDPAddr(netip.MustParseAddrPort("10.0.0.2:5000")))
	defer client.Close()

	client.WriteTo([]byte{3, 0x01, 0}, client.BroadcastAddr()) // SEARCHGW
	buf := make([]byte, 64)
	k, from, _ := gw.ReadFrom(buf)
	fmt.Printf("gateway got % x from %v\n", buf[:k], from)

	client.WriteTo([]byte{1}, transport.UDPAddr(netip.MustParseAddrPort("10.0.0.9:1")))
	fmt.Printf("%+v\n", n.Stats())
	// Output:
	// gateway got 03 01 00 from 10.0.0.2:5000
	// {Delivered:1 DroppedUnknown:1 DroppedFull:0 DroppedHook:0 Oversize:0 Truncated:0}
}
