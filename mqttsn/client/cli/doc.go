// Package cli holds what the MQTT-SN client tools (mqttsn-pub, mqttsn-sub,
// mqttsn-bench) share: the connection flags (-h, -p, --xbee, --baud,
// --api-mode, --xbee-gateway, --encapsulate, -i, -k, -c, -d), opening the
// transport to the gateway, a light client-side UDP [transport.Conn], the
// -d packet printer and flag value types for seconds and durations.
//
// It does no protocol work: that is package client. Nothing here starts a
// goroutine except [Transport.Run] for an XBee radio, which the tool runs
// and waits for.
//
// [UDPConn] differs from transport/udp (the gateway's listener): it reads
// one datagram per system call into the caller's buffer and holds no
// batch buffers, so a load generator can open thousands of them; it sends
// batches with sendmmsg(2) ([UDPConn.WriteBatchTo]).
package cli
