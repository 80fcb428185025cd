// Package transport is the seam between the gateway and the media that
// carry MQTT-SN datagrams: it defines [Conn] and the comparable [Addr] and
// nothing else.
//
// The media live in subpackages: udp (IPv4/IPv6 sockets), xbee (ZigBee
// radios in API mode over a serial port) and transporttest (an in-memory
// pair for tests). Forwarder-encapsulated clients (MQTT-SN 1.2 §5.5) are
// not a transport: they are named by the gateway as a forwarder Addr plus a
// Wireless Node Id.
package transport
