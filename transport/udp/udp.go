package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/transport"
)

// Largest UDP payloads: 65535 minus the UDP header (8) and, for IPv4, the
// minimal IP header (20).
const (
	MaxPayloadIPv4 = 65507
	MaxPayloadIPv6 = 65527
)

// defaultBatch is how many datagrams one recvmmsg call may return on Linux.
const defaultBatch = 32

// Config configures one UDP listener. It maps onto a [[transport.udp]]
// table of the configuration file.
type Config struct {
	// Listen is the local IP address and port: "0.0.0.0:1884" (IPv4 only),
	// "[::]:1884" (IPv6 only), ":1884" (both, one dual-stack socket),
	// "127.0.0.1:0" (an ephemeral port). Host names are not accepted.
	Listen string
	// Broadcast is where ADVERTISE and GWINFO broadcasts go, or "" for none:
	// an IPv4 broadcast ("255.255.255.255:1884" or a subnet broadcast) or a
	// multicast group ("225.1.1.1:1884", "[ff02::1]:1884",
	// "[ff02::1%eth0]:1884"). The listener joins a multicast group, so that
	// clients' multicast SEARCHGW reach it too.
	Broadcast string
	// RecvBuffer is the SO_RCVBUF size in bytes; 0 keeps the system default.
	RecvBuffer int
	// Logger receives lifecycle and per-datagram logs; the zero value is
	// disabled.
	Logger zerolog.Logger
}

// Stats are counters of one [Conn] since it was opened.
type Stats struct {
	Received  uint64 // datagrams returned by ReadFrom
	Truncated uint64 // datagrams dropped because they did not fit the read buffer
	Sent      uint64 // datagrams written by WriteTo
	SendErrs  uint64 // WriteTo calls that failed
}

// Conn is a UDP socket carrying MQTT-SN datagrams; it implements
// [transport.Conn].
type Conn struct {
	uc        *net.UDPConn
	rd        reader
	local     transport.Addr
	broadcast transport.Addr
	maxLen    int
	log       zerolog.Logger

	closed              atomic.Bool // set by Close: batched datagrams are not served after it
	received, truncated atomic.Uint64
	sent, sendErrs      atomic.Uint64
}

var _ transport.Conn = (*Conn)(nil)

// reader reads one datagram at a time from the socket: one recvfrom per
// datagram, or datagrams served from a recvmmsg batch on Linux.
type reader interface {
	// read returns the datagram length, which may exceed len(b) when the
	// datagram was truncated, and the sender.
	read(b []byte) (n int, from netip.AddrPort, err error)
}

// Listen opens the UDP socket described by cfg. It starts no goroutine.
func Listen(cfg Config) (*Conn, error) { return listen(cfg, defaultBatch) }

// listen is Listen with the recvmmsg batch size; batch <= 1 reads one
// datagram per system call.
func listen(cfg Config, batch int) (*Conn, error) {
	network, laddr, err := parseListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	bcast, err := parseBroadcast(cfg.Broadcast, network)
	if err != nil {
		return nil, err
	}
	uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		return nil, fmt.Errorf("udp: listen %s: %w", cfg.Listen, err)
	}
	local := transport.UDPAddr(uc.LocalAddr().(*net.UDPAddr).AddrPort())
	c := &Conn{
		uc:     uc,
		local:  local,
		maxLen: maxPayload(network),
		log:    cfg.Logger.With().Str("component", "transport/udp").Stringer("listen", local).Logger(),
	}
	if err := c.setup(cfg, bcast, batch); err != nil {
		uc.Close()
		return nil, err
	}
	c.log.Info().Stringer("broadcast", c.broadcast).Msg("udp listening")
	return c, nil
}

// setup applies the socket options and picks the reader.
func (c *Conn) setup(cfg Config, bcast netip.AddrPort, batch int) error {
	if cfg.RecvBuffer > 0 {
		if err := c.setRecvBuffer(cfg.RecvBuffer); err != nil {
			return err
		}
	}
	if bcast.IsValid() {
		if err := c.setupBroadcast(bcast); err != nil {
			return err
		}
		c.broadcast = transport.UDPAddr(bcast)
	}
	c.rd = newReader(c.uc, batch)
	return nil
}

// CheckListen reports whether [Listen] would take s as [Config].Listen:
// ip:port, [ipv6]:port or :port, no host name. It opens nothing; config
// validation is tested against it.
func CheckListen(s string) error {
	_, _, err := parseListen(s)
	return err
}

// parseListen returns the socket network ("udp4", "udp6" or the dual-stack
// "udp") and the address of a Listen string.
func parseListen(s string) (string, netip.AddrPort, error) {
	if len(s) > 0 && s[0] == ':' {
		port, err := strconv.ParseUint(s[1:], 10, 16)
		if err != nil {
			return "", netip.AddrPort{}, fmt.Errorf("udp: listen address %q: bad port", s)
		}
		return "udp", netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("udp: listen address %q: want ip:port, [ipv6]:port or :port: %w", s, err)
	}
	if ap.Addr().Unmap().Is4() {
		return "udp4", netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	return "udp6", ap, nil
}

func maxPayload(network string) int {
	if network == "udp6" {
		return MaxPayloadIPv6
	}
	return MaxPayloadIPv4 // udp4, and dual-stack sockets that may reach IPv4 peers
}

// ReadFrom reads one datagram into b and returns its length and sender.
// A datagram longer than b is dropped and counted in [Stats].Truncated,
// and ReadFrom goes on to the next one. It must be called from one
// goroutine only. After [Conn.Close] it returns an error wrapping
// [net.ErrClosed].
func (c *Conn) ReadFrom(b []byte) (int, transport.Addr, error) {
	for {
		if c.closed.Load() {
			return 0, transport.Addr{}, fmt.Errorf("udp: read %v: %w", c.local, net.ErrClosed)
		}
		n, from, err := c.rd.read(b)
		if err != nil {
			return 0, transport.Addr{}, fmt.Errorf("udp: read: %w", err)
		}
		if n > len(b) {
			c.truncated.Add(1)
			c.log.Debug().Stringer("addr", from).Int("len", n).Msg("datagram truncated, dropped")
			continue
		}
		c.received.Add(1)
		return n, transport.UDPAddr(from), nil
	}
}

// errNotUDP is returned by WriteTo for an Addr that is not an IP address.
var errNotUDP = errors.New("udp: destination is not a udp address")

// WriteTo sends b as one datagram to to. It is safe for concurrent use and
// does not keep b.
func (c *Conn) WriteTo(b []byte, to transport.Addr) (int, error) {
	if to.Kind() != transport.KindUDP {
		c.sendErrs.Add(1)
		return 0, fmt.Errorf("%w: %v", errNotUDP, to)
	}
	if len(b) > c.maxLen {
		c.sendErrs.Add(1)
		return 0, fmt.Errorf("udp: write to %v: datagram of %d bytes exceeds %d", to, len(b), c.maxLen)
	}
	n, err := c.uc.WriteToUDPAddrPort(b, to.AddrPort())
	if err != nil {
		c.sendErrs.Add(1)
		return n, err
	}
	c.sent.Add(1)
	return n, nil
}

// LocalAddr returns the address the socket is bound to, with the actual
// port when Listen asked for port 0.
func (c *Conn) LocalAddr() transport.Addr { return c.local }

// BroadcastAddr returns the configured broadcast or multicast target, or
// the zero Addr.
func (c *Conn) BroadcastAddr() transport.Addr { return c.broadcast }

// MaxPayload is the largest datagram WriteTo accepts: 65507 bytes for IPv4
// and dual-stack sockets, 65527 for IPv6-only ones.
func (c *Conn) MaxPayload() int { return c.maxLen }

// Close closes the socket and unblocks ReadFrom.
func (c *Conn) Close() error {
	c.closed.Store(true)
	if err := c.uc.Close(); err != nil {
		return fmt.Errorf("udp: close %v: %w", c.local, err)
	}
	c.log.Info().Msg("udp closed")
	return nil
}

// Stats returns the counters of c. It is safe for concurrent use.
func (c *Conn) Stats() Stats {
	return Stats{
		Received:  c.received.Load(),
		Truncated: c.truncated.Load(),
		Sent:      c.sent.Load(),
		SendErrs:  c.sendErrs.Load(),
	}
}

// plainReader reads one datagram per system call.
type plainReader struct{ uc *net.UDPConn }

func (r plainReader) read(b []byte) (int, netip.AddrPort, error) {
	n, _, flags, from, err := r.uc.ReadMsgUDPAddrPort(b, nil)
	if err == nil && flags&msgTrunc != 0 {
		n = len(b) + 1 // report truncation: the real length is unknown
	}
	return n, from, err
}
