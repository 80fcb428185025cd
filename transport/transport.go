package transport

import (
	"fmt"
	"net/netip"
)

// Kind is the medium an [Addr] belongs to.
type Kind uint8

// Kinds of address.
const (
	KindNone Kind = iota // the zero Addr
	KindUDP              // an IPv4 or IPv6 host:port (UDP and DTLS)
	KindXBee             // a ZigBee radio, by its 64-bit IEEE address
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindUDP:
		return "udp"
	case KindXBee:
		return "xbee"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Addr is the address of a peer on one [Conn]. It is a comparable value,
// usable as a map key; the zero Addr is "no address".
//
// An Addr names a peer within one Conn only: the gateway pairs it with the
// Conn it came from when several transports run at once.
type Addr struct {
	kind  Kind
	ip    netip.AddrPort // KindUDP
	eui64 uint64         // KindXBee
}

// UDPAddr returns the Addr of an IP host and port. IPv4-mapped IPv6
// addresses are unmapped so that one host has one Addr.
func UDPAddr(ap netip.AddrPort) Addr {
	return Addr{kind: KindUDP, ip: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// XBeeAddr returns the Addr of a ZigBee radio with the 64-bit IEEE
// address eui64.
func XBeeAddr(eui64 uint64) Addr { return Addr{kind: KindXBee, eui64: eui64} }

// Kind returns the medium of a.
func (a Addr) Kind() Kind { return a.kind }

// IsValid reports whether a is not the zero Addr.
func (a Addr) IsValid() bool { return a.kind != KindNone }

// AddrPort returns the IP address and port of a KindUDP Addr.
func (a Addr) AddrPort() netip.AddrPort { return a.ip }

// EUI64 returns the 64-bit radio address of a KindXBee Addr.
func (a Addr) EUI64() uint64 { return a.eui64 }

func (a Addr) String() string {
	switch a.kind {
	case KindUDP:
		return a.ip.String()
	case KindXBee:
		return fmt.Sprintf("xbee:%016x", a.eui64)
	}
	return "none"
}

// Conn is a datagram transport carrying MQTT-SN messages: one datagram is
// one MQTT-SN message (or one Forwarder Encapsulation frame).
type Conn interface {
	// ReadFrom reads one datagram into b and returns its length and sender.
	// It is called from one goroutine only. After Close it returns an
	// error wrapping net.ErrClosed.
	ReadFrom(b []byte) (n int, from Addr, err error)
	// WriteTo sends b as one datagram to the peer at to. It is safe for
	// concurrent use and does not keep b after it returns.
	WriteTo(b []byte, to Addr) (n int, err error)
	// LocalAddr is the address the transport receives on.
	LocalAddr() Addr
	// BroadcastAddr is where broadcasts (ADVERTISE, GWINFO) go, or the zero
	// Addr when the transport has none configured.
	BroadcastAddr() Addr
	// MaxPayload is the largest datagram WriteTo accepts.
	MaxPayload() int
	// Close releases the transport and unblocks ReadFrom.
	Close() error
}
