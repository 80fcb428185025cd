// Package xbee is the transport for Digi XBee Zigbee radios in API mode
// on a serial port: one MQTT-SN datagram is the RF data of one Receive
// Packet (0x90) in, or of one Transmit Request (0x10) out.
//
// # Frame codec
//
// The codec (frame.go, api.go) is pure: no I/O, no logging, no clock, no
// goroutines. [AppendFrame] appends one API frame in API mode 1
// (unescaped) or 2 (escaped) to a caller's buffer; a [Decoder] splits a
// byte stream fed in arbitrary chunks into frames, resynchronising on the
// next start delimiter after garbage, a bad checksum, an impossible length
// or a truncated frame, and counting each kind of error in [DecoderStats].
// The typed frames ([RxPacket], [TxRequest], [TxStatus], [ModemStatus],
// [ATCommand], [ATResponse]) parse from and append to frame data.
// Decoding allocates nothing once the decoder's buffers have grown to the
// largest frame.
//
// # Conn
//
// [Conn] is a [transport.Conn] over a serial port opened with
// go.bug.st/serial. [New] checks a [Config] and starts nothing;
// [Conn.Run] opens the device, runs one reader and one writer goroutine
// on it and waits for them, and when the device disappears (read or write
// error: unplugged dongle) logs a warning and reopens it with back-off.
// Run returns nil when its context is done or [Conn.Close] is called.
//
//   - ReadFrom is for one goroutine. It keeps blocking through an unplug,
//     so the gateway's sessions of radio clients live on; only Close ends
//     it, with an error wrapping net.ErrClosed. A datagram is copied into
//     the caller's buffer.
//   - WriteTo is safe for concurrent use and never waits for the radio: it
//     builds the Transmit Request in a pooled buffer, queues it for the
//     writer goroutine and returns. It fails at once, sending nothing, for
//     a datagram longer than MaxPayload (logged and counted), while the
//     device is not open, or when QueueLen datagrams are already waiting.
//     It does not keep the caller's buffer.
//   - Every Transmit Request asks for a Transmit Status (frame ids rotate
//     through 1..255). Statuses are matched to their request by frame id
//     as they arrive on the reader goroutine, and counted per destination
//     in [Stats]; failures are logged with the destination's running
//     count, rate-limited: a destination's 1st, 2nd, 4th, 8th... failure,
//     at most 10 lines per 10 s over all destinations, so that a dead
//     node does not flood the log.
//   - Addresses are [transport.XBeeAddr] of the radio's 64-bit address.
//     The 16-bit network address of each peer is cached from its Receive
//     Packets (and successful Transmit Statuses) and sent with Transmit
//     Requests; 0xFFFE (unknown, the radio discovers it) otherwise.
//     BroadcastAddr is 0x000000000000FFFF, sent with 0xFFFE.
//   - Modem Status frames are logged (and counted); frames of other types
//     are counted and skipped; framing errors are counted, and logged
//     through a burst sampler.
//
// The datagram path allocates nothing in steady state: fixed pools of
// QueueLen buffers each way, indexes passed on channels.
//
// # Serial settings
//
// Baud, data bits, parity and stop bits go through go.bug.st/serial's
// Mode. That library (v1.8) turns RTS/CTS off when it opens a port and has
// no setting for it, so with FlowControl "rtscts" the transport sets
// CRTSCTS itself through a second descriptor of the same tty (Linux only;
// elsewhere opening fails with a clear error). On a pseudo-terminal the
// Linux pty driver keeps the baud rate, stop bits and CRTSCTS but forces 8
// data bits without parity, so the tests check those two only as far as a
// pty allows.
//
// # Client tools
//
// The same Conn serves a client (mqttsn-pub --xbee): run it on the
// client's radio with ExitOnError, wait with [Conn.WaitConnected], and
// WriteTo the gateway radio's address ([ParseEUI64] reads it from a flag),
// or broadcast SEARCHGW to BroadcastAddr and use the sender of GWINFO.
//
// # Attaching a dongle
//
// Set the radio to API mode with XCTU (AP=1, or AP=2 for escaped mode, the
// default here), note its baud rate (BD; 9600 from the factory) and
// whether RTS/CTS is wired (D6=1, D7=1). The device is usually
// /dev/ttyUSB0; a udev symlink by serial number (/dev/serial/by-id/...)
// keeps the path stable across unplugs. The gateway's user needs read and
// write access to it (the dialout group on Debian).
//
// It does not configure the radio beyond reading its address (AT SH/SL),
// does not fragment datagrams larger than the RF payload, and knows
// nothing of MQTT-SN (Forwarder Encapsulation is the gateway's business).
//
// Buffer ownership in the codec: frame data returned by [Decoder.Next]
// aliases the decoder's buffer until the next call to Next, Feed or Reset,
// and the Data field of a parsed frame aliases the frame data it was
// parsed from. A Decoder is not safe for concurrent use.
package xbee
