// Package mqttsn is the MQTT-SN v1.2 wire codec: every message type, the
// 1- and 3-octet length forms, Forwarder Encapsulation, flags, return codes
// and the topic-name rules.
//
// It does no I/O and no logging, starts no goroutines and reads no clock.
// It holds no state: all functions are safe for concurrent use, and a
// [Packet] may be used by one goroutine at a time.
//
// Decoding: [Parse] fills a caller-owned [Packet] and allocates nothing.
// Every []byte field of a parsed message ALIASES the input buffer: it is
// valid only while that buffer is, so copy what you keep (client ids,
// topic names). Encoding: [Packet.AppendBinary] and the AppendBinary method
// of each message append the wire form to a caller's buffer, choosing the
// 1-octet length form whenever the message fits in 255 octets, and
// allocate nothing when the buffer has room. [MessageLength] reads just
// the Length field, for transports that frame messages.
//
// Parse is strict: a length field that disagrees with the datagram,
// truncated or trailing bytes, a reserved message type, QoS -1 outside
// PUBLISH, a ClientId outside 1..23 octets, an empty topic name or a
// reserved topic id where the spec forbids it are all reported as a
// *[ParseError] naming the message type and the field, wrapping a sentinel
// such as [ErrTruncated] or [ErrTopicID]. AppendBinary checks the same
// rules and reports an *[EncodeError], so what encodes also parses. Parse
// never panics (FuzzParse checks it).
//
// Interpretations of the spec, each quoted where it is implemented:
//   - Flags a message does not use ("not used" in §5.4) are ignored on
//     parse and written as 0; reserved Ctrl bits of an encapsulation too.
//   - A QoS 0 or -1 PUBLISH with a non-zero MsgId is accepted (real clients
//     send it); a QoS -1 PUBLISH needs a pre-defined id or short name (§6.8).
//   - Topic ids 0x0000 and 0xFFFF (§5.3.11) are rejected in PUBLISH with a
//     normal or pre-defined id, in SUBSCRIBE/UNSUBSCRIBE with a pre-defined
//     id and in an accepted REGACK; REGISTER may carry 0x0000 (a client's)
//     but not 0xFFFF; an accepted SUBACK may carry 0x0000 (wildcard or
//     short name) but not 0xFFFF; a rejecting REGACK/SUBACK and PUBACK may
//     carry anything. A short topic name is two characters, not an id.
//   - Return codes 0x04-0xFF and ProtocolId other than 0x01 are rejected;
//     the 3-octet Length form is accepted for short messages too.
//   - An encapsulation needs a non-empty Wireless Node Id and exactly one
//     inner message that is not itself an encapsulation.
//
// What it does not do: the syntax of topic names and filters inside
// REGISTER, SUBSCRIBE and WILLTOPIC is not checked by Parse (only
// emptiness), because a gateway answers a bad topic with a return code;
// use [ValidateTopicName], [ValidateTopicFilter] and [MatchTopic]. Nor
// does it know who sent a message, so direction rules are the session's.
package mqttsn
