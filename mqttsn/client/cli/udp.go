package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"

	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
)

// UDPConn is a client's UDP socket as a [transport.Conn]: one datagram per
// read, safe for one reader and many writers. It also sends batches of
// datagrams with one sendmmsg(2) on Linux ([UDPConn.WriteBatchTo]).
type UDPConn struct {
	uc    *net.UDPConn
	local transport.Addr

	bmu  sync.Mutex // guards pc, msgs, dst
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	dst  *net.UDPAddr
}

var (
	_ transport.Conn     = (*UDPConn)(nil)
	_ client.BatchWriter = (*UDPConn)(nil)
)

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

// WriteBatchTo sends each of bs as one datagram to a KindUDP address, in
// order, with as few system calls as the platform allows (sendmmsg on
// Linux, for IPv4; one write per datagram otherwise). It returns how many
// datagrams were sent.
func (c *UDPConn) WriteBatchTo(bs [][]byte, to transport.Addr) (int, error) {
	if to.Kind() != transport.KindUDP {
		return 0, fmt.Errorf("udp: cannot send to %s", to)
	}
	ap := to.AddrPort()
	if !c.local.AddrPort().Addr().Is4() || !ap.Addr().Unmap().Is4() {
		for i, b := range bs {
			if _, err := c.WriteTo(b, to); err != nil {
				return i, err
			}
		}
		return len(bs), nil
	}
	c.bmu.Lock()
	defer c.bmu.Unlock()
	if c.pc == nil {
		c.pc = ipv4.NewPacketConn(c.uc)
	}
	if c.dst == nil || c.dst.AddrPort() != netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) {
		c.dst = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	for len(c.msgs) < len(bs) {
		c.msgs = append(c.msgs, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	ms := c.msgs[:len(bs)]
	for i, b := range bs {
		ms[i].Buffers[0] = b
		ms[i].Addr = c.dst
	}
	sent := 0
	for sent < len(ms) {
		n, err := c.pc.WriteBatch(ms[sent:], 0)
		if err != nil {
			return sent, err
		}
		sent += n
	}
	for i := range ms {
		ms[i].Buffers[0] = nil // keep nothing of the caller's
	}
	return sent, nil
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
