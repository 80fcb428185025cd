// Package mqttsn is the MQTT-SN v1.2 wire codec: every message type, the
// 1- and 3-octet length forms, Forwarder Encapsulation, flags, return codes
// and the topic-name rules.
//
// It does no I/O and no logging, starts no goroutines and reads no clock.
//
// Decoding: [Parse] fills a caller-owned [Packet] and allocates nothing.
// Every []byte field of a parsed message ALIASES the input buffer: it is
// valid only while that buffer is, so copy what you keep (client ids,
// topic names). Encoding: [Packet.AppendBinary] and the AppendBinary method
// of each message append the wire form to a caller's buffer, choosing the
// 1-octet length form whenever the message fits in 255 octets.
//
// Parse is strict: a length field that disagrees with the datagram,
// truncated or trailing bytes, a reserved message type, QoS -1 outside
// PUBLISH, a ClientId outside 1..23 octets, an empty topic name or a
// reserved topic id where the spec forbids it are all reported as a
// *[ParseError] naming the message type and the field. Parse never panics.
package mqttsn
