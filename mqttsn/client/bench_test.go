package client

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

// discardConn drops what is written and blocks reads until Close.
type discardConn struct{ closed chan struct{} }

func (d discardConn) ReadFrom([]byte) (int, transport.Addr, error) {
	<-d.closed
	return 0, transport.Addr{}, net.ErrClosed
}
func (d discardConn) WriteTo(b []byte, _ transport.Addr) (int, error) { return len(b), nil }
func (d discardConn) LocalAddr() transport.Addr                       { return transport.Addr{} }
func (d discardConn) BroadcastAddr() transport.Addr                   { return transport.Addr{} }
func (d discardConn) MaxPayload() int                                 { return 1024 }
func (d discardConn) Close() error                                    { close(d.closed); return nil }

// BenchmarkPublishQoS0 measures the client's cost of one QoS 0 PUBLISH
// (encode and hand to the Conn), which bounds what mqttsn-bench can offer.
func BenchmarkPublishQoS0(b *testing.B) {
	for _, tt := range []struct {
		name string
		node []byte
	}{{"plain", nil}, {"encapsulated", []byte{1, 2, 3, 4, 5, 6, 7, 8}}} {
		b.Run(tt.name, func(b *testing.B) {
			gw := transport.UDPAddr(netip.MustParseAddrPort("127.0.0.1:1884"))
			c := Open(discardConn{closed: make(chan struct{})}, Config{Gateway: gw, NodeID: tt.node})
			defer c.Close()
			payload := make([]byte, 32)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if err := c.Publish(ctx, Registered(1), mqttsn.QoS0, false, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPublishQoS0Allocs(t *testing.T) {
	gw := transport.UDPAddr(netip.MustParseAddrPort("127.0.0.1:1884"))
	c := Open(discardConn{closed: make(chan struct{})}, Config{Gateway: gw})
	defer c.Close()
	payload := make([]byte, 32)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		c.Publish(ctx, Registered(1), mqttsn.QoS0, false, payload)
	}); n != 0 {
		t.Errorf("QoS 0 Publish allocates %v times, want 0", n)
	}
}
