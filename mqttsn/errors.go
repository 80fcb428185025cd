package mqttsn

import (
	"errors"
	"strconv"
)

// Sentinel errors. [Parse] wraps them in a *[ParseError] and the
// AppendBinary methods in an *[EncodeError]; test for them with
// errors.Is. Each names one kind of rule; the error's Field says where.
var (
	// ErrTruncated: the datagram ends before its Length field says, or
	// before a mandatory field of its message type.
	ErrTruncated = errors.New("truncated")
	// ErrTrailing: the datagram goes on after the length its Length field
	// gives, or a fixed-size message has more octets than its type allows.
	ErrTrailing = errors.New("trailing octets")
	// ErrLength: the Length field holds a value no message can have (0, or
	// less than the header it is part of).
	ErrLength = errors.New("invalid length")
	// ErrReserved: a reserved value (message type, TopicIdType 0b11,
	// return code 0x04-0xFF) or a value outside the range of its field.
	ErrReserved = errors.New("reserved value")
	// ErrQoS: QoS -1 outside PUBLISH, or a QoS -1 PUBLISH with a normal
	// topic id. [MQTT-SN 1.2 §5.3.4, §6.8]
	ErrQoS = errors.New("qos not allowed")
	// ErrClientID: a ClientId outside 1..23 octets. [MQTT-SN 1.2 §5.3.1]
	ErrClientID = errors.New("client id must be 1 to 23 octets")
	// ErrEmptyTopic: an empty topic name where one is required.
	ErrEmptyTopic = errors.New("empty topic name")
	// ErrTopicID: the reserved topic id 0x0000 or 0xFFFF where the spec
	// forbids it. [MQTT-SN 1.2 §5.3.11]
	ErrTopicID = errors.New("reserved topic id")
	// ErrProtocolID: a CONNECT whose ProtocolId is not 0x01 (another
	// protocol version). The Connect fields are set, so a gateway can
	// answer it. [MQTT-SN 1.2 §5.3.8]
	ErrProtocolID = errors.New("unsupported protocol id")
	// ErrNested: a Forwarder Encapsulation frame inside another one.
	ErrNested = errors.New("nested encapsulation")
	// ErrTooLong: a message to encode is longer than 65535 octets.
	// [MQTT-SN 1.2 §5.2.1]
	ErrTooLong = errors.New("message longer than 65535 octets")
)

// typeUnknown is the Type of a ParseError for a datagram too short to
// hold a MsgType octet.
const typeUnknown MsgType = 0xFF

// ParseError is the error [Parse] returns for malformed input. It names
// the message type, the field at fault and the field's offset in the
// datagram, and wraps one of the sentinel errors (ErrTruncated, ...).
//
// Type is 0xFF when the datagram is too short to hold its MsgType octet.
type ParseError struct {
	Type  MsgType
	Field string // wire field name as in the spec: "Length", "ClientId", "Flags", "TopicId", ...
	Off   int    // offset of Field in the datagram
	Err   error  // one of the Err* sentinels
}

func (e *ParseError) Error() string {
	return "mqttsn: parse " + e.Type.String() + ": " + e.Field +
		" at offset " + strconv.Itoa(e.Off) + ": " + e.Err.Error()
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

// EncodeError is the error the AppendBinary methods return for a message
// that cannot be encoded: the same rules as [Parse], applied before
// anything is appended.
type EncodeError struct {
	Type  MsgType
	Field string
	Err   error // one of the Err* sentinels
}

func (e *EncodeError) Error() string {
	return "mqttsn: encode " + e.Type.String() + ": " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the sentinel error.
func (e *EncodeError) Unwrap() error { return e.Err }

// fieldErr is a rule violation found by a parse or validate method,
// returned by value (no allocation) and turned into a *ParseError or
// *EncodeError at the package boundary. off is relative to the start of
// the variable part.
type fieldErr struct {
	field string
	off   int
	err   error
}

func (fe fieldErr) parseError(t MsgType, base int) error {
	return &ParseError{Type: t, Field: fe.field, Off: base + fe.off, Err: fe.err}
}

func (fe fieldErr) encodeError(t MsgType) error {
	return &EncodeError{Type: t, Field: fe.field, Err: fe.err}
}
