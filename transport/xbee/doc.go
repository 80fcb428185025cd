// Package xbee is the transport for Digi XBee Zigbee radios in API mode
// on a serial port: one MQTT-SN datagram is the RF data of one Receive
// Packet (0x90) in, or of one Transmit Request (0x10) out.
//
// It has two layers. The frame codec (frame.go, api.go) is pure: no I/O,
// no logging, no clock, no goroutines. [AppendFrame] appends one API frame
// in API mode 1 (unescaped) or 2 (escaped) to a caller's buffer; a
// [Decoder] splits a byte stream fed in arbitrary chunks into frames,
// resynchronising on the next start delimiter after garbage, a bad
// checksum, an impossible length or a truncated frame, and counting each
// kind of error in [DecoderStats]. The typed frames ([RxPacket],
// [TxRequest], [TxStatus], [ModemStatus], [ATCommand], [ATResponse]) parse
// from and append to frame data. Decoding allocates nothing once the
// decoder's buffers have grown to the largest frame.
//
// It does not configure the radio beyond reading its address, does not
// fragment datagrams larger than the RF payload, and knows nothing of
// MQTT-SN (Forwarder Encapsulation is the gateway's business).
//
// Buffer ownership: frame data returned by [Decoder.Next] aliases the
// decoder's buffer until the next call to Next, Feed or Reset, and the
// Data field of a parsed frame aliases the frame data it was parsed from.
// A Decoder is not safe for concurrent use.
package xbee
