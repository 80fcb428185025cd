// Package udp is the UDP transport of snbridge: one [Conn] is one UDP
// socket (IPv4, IPv6 or dual-stack) implementing [transport.Conn], one
// datagram per MQTT-SN message.
//
// It opens, configures and closes sockets: the receive buffer size
// (SO_RCVBUF), SO_BROADCAST for an IPv4 broadcast target, and the
// membership of a multicast group used as the broadcast target (so that
// clients' multicast SEARCHGW reach the gateway). It does not parse
// MQTT-SN, keep peers or start goroutines: the gateway runs one reader
// goroutine per Conn. Several Conns may be open at once.
//
// Listen addresses choose the socket: "0.0.0.0:1884" is IPv4 only,
// "[::]:1884" IPv6 only (so both may be configured side by side), ":1884"
// one dual-stack socket for both. Host names are not taken ([CheckListen]).
//
// A receive buffer above the system cap (net.core.rmem_max on Linux) is
// forced with SO_RCVBUFFORCE when the process has CAP_NET_ADMIN; the
// size granted is logged (halved on Linux, which reports it doubled) and
// a buffer smaller than asked is logged at warn.
//
// # Concurrency and buffers
//
// ReadFrom is called from one goroutine; it copies one datagram into the
// caller's buffer, which the caller owns again on return. On Linux it
// reads up to 32 datagrams per recvmmsg(2) call into buffers of its own
// (32 × 64 KiB per Conn) and serves them one per call, so a burst costs
// one system call; elsewhere it reads one datagram per call. A datagram
// longer than the caller's buffer is dropped and counted, never returned
// cut short. Reading allocates nothing.
//
// WriteTo, LocalAddr, BroadcastAddr, MaxPayload and Stats are safe for
// concurrent use; WriteTo does not keep its buffer. Close unblocks
// ReadFrom, which then returns an error wrapping [net.ErrClosed].
package udp
