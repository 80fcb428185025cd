package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/snbridge/snbridge/transport"
)

// UDPConn is a client's UDP socket as a [transport.Conn]: one datagram per
// read, no batching, safe for one reader and many writers.
type UDPConn struct {
	uc    *net.UDPConn
	local transport.Addr
}

var _ transport.Conn = (*UDPConn)(nil)

// ListenUDP opens a UDP socket on an ephemeral port of the family of
// gateway (IPv4 or IPv6).
func ListenUDP(gateway netip.AddrPort) (*UDPConn, error) {
	network, laddr := "udp4", &net.UDPAddr{IP: net.IPv4zero}
	if !gateway.Addr().Unmap().Is4() {
		network, laddr = "udp6", &net.UDPAddr{IP: net.IPv6unspecified}
	}
	uc, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("udp: listen: %w", err)
	}
	return &UDPConn{uc: uc, local: transport.UDPAddr(uc.LocalAddr().(*net.UDPAddr).AddrPort())}, nil
}

// ReadFrom reads one datagram. After Close it returns net.ErrClosed.
func (c *UDPConn) ReadFrom(b []byte) (int, transport.Addr, error) {
	for {
		n, from, err := c.uc.ReadFromUDPAddrPort(b)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && !errors.Is(err, net.ErrClosed) && !op.Timeout() {
				// ICMP port unreachable and friends: the gateway is not
				// (yet) there; keep reading, requests time out on their own.
				continue
			}
			return 0, transport.Addr{}, err
		}
		return n, transport.UDPAddr(from), nil
	}
}

// WriteTo sends b to a KindUDP address.
func (c *UDPConn) WriteTo(b []byte, to transport.Addr) (int, error) {
	if to.Kind() != transport.KindUDP {
		return 0, fmt.Errorf("udp: cannot send to %s", to)
	}
	ap := to.AddrPort()
	if c.local.AddrPort().Addr().Is4() {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return c.uc.WriteToUDPAddrPort(b, ap)
}

// LocalAddr is the socket's address.
func (c *UDPConn) LocalAddr() transport.Addr { return c.local }

// BroadcastAddr is the zero Addr: SEARCHGW goes to the gateway address.
func (c *UDPConn) BroadcastAddr() transport.Addr { return transport.Addr{} }

// MaxPayload is the largest IPv4 UDP payload.
func (c *UDPConn) MaxPayload() int { return 65507 }

// Close closes the socket.
func (c *UDPConn) Close() error { return c.uc.Close() }

// SetReadBuffer sets SO_RCVBUF.
func (c *UDPConn) SetReadBuffer(n int) error { return c.uc.SetReadBuffer(n) }
