package udp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// parseBroadcast checks a Broadcast string against the listener's network
// ("udp4", "udp6" or dual-stack "udp") and returns its address, or the
// zero AddrPort for "".
func parseBroadcast(s, network string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: want ip:port or [ipv6]:port: %w", s, err)
	}
	a := ap.Addr()
	if a.Is4In6() {
		a = a.Unmap()
	}
	switch {
	case ap.Port() == 0:
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: port 0", s)
	case a.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: unspecified address", s)
	case a.Is4() && network == "udp6":
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: ipv4 target on an ipv6-only listener", s)
	case a.Is6() && !a.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: ipv6 has no broadcast, use a multicast group such as [ff02::1]:%d", s, ap.Port())
	case a.Is6() && network == "udp4":
		return netip.AddrPort{}, fmt.Errorf("udp: broadcast address %q: ipv6 group on an ipv4-only listener", s)
	}
	return netip.AddrPortFrom(a, ap.Port()), nil
}

// setupBroadcast prepares the socket for sending to bcast: SO_BROADCAST
// for an IPv4 broadcast address; for a multicast group, joining the group
// so that clients' multicast SEARCHGW reach this listener too. A failed
// join is logged, not fatal: sending to the group may still work.
func (c *Conn) setupBroadcast(bcast netip.AddrPort) error {
	a := bcast.Addr()
	if !a.IsMulticast() {
		if err := setBroadcast(c.uc); err != nil {
			return fmt.Errorf("udp: broadcast %v: set SO_BROADCAST: %w", bcast, err)
		}
		return nil
	}
	if bcast.Port() != c.local.AddrPort().Port() {
		c.log.Warn().Stringer("broadcast", bcast).
			Msg("multicast port differs from listen port, multicast SEARCHGW will not be received")
	}
	ifi, err := zoneInterface(a.Zone())
	if err != nil {
		return fmt.Errorf("udp: broadcast %v: %w", bcast, err)
	}
	group := &net.UDPAddr{IP: a.WithZone("").AsSlice()}
	if a.Is4() {
		err = joinGroup4(c.uc, ifi, group)
	} else {
		err = joinGroup6(c.uc, ifi, group)
	}
	if err != nil {
		c.log.Warn().Err(err).Stringer("broadcast", bcast).Msg("multicast join failed")
	}
	return nil
}

func joinGroup4(uc *net.UDPConn, ifi *net.Interface, group *net.UDPAddr) error {
	p := ipv4.NewPacketConn(uc)
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("set multicast interface %s: %w", ifi.Name, err)
		}
	}
	if err := p.JoinGroup(ifi, group); err != nil {
		return fmt.Errorf("join group %v: %w", group.IP, err)
	}
	return nil
}

func joinGroup6(uc *net.UDPConn, ifi *net.Interface, group *net.UDPAddr) error {
	p := ipv6.NewPacketConn(uc)
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("set multicast interface %s: %w", ifi.Name, err)
		}
	}
	if err := p.JoinGroup(ifi, group); err != nil {
		return fmt.Errorf("join group %v: %w", group.IP, err)
	}
	return nil
}

// zoneInterface returns the interface named (or numbered) by an IPv6
// zone, or nil for no zone: the system then picks the interface.
func zoneInterface(zone string) (*net.Interface, error) {
	if zone == "" {
		return nil, nil
	}
	if idx, err := strconv.Atoi(zone); err == nil {
		ifi, err := net.InterfaceByIndex(idx)
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", idx, err)
		}
		return ifi, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", zone, err)
	}
	return ifi, nil
}
