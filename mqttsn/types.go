package mqttsn

import "fmt"

// MsgType is the MsgType field of an MQTT-SN message. [MQTT-SN 1.2 §5.2.2]
type MsgType uint8

// Message types of MQTT-SN v1.2, Table 3. The values 0x03, 0x11, 0x19,
// 0x1E-0xFD and 0xFF are reserved and rejected by [Parse].
const (
	TypeAdvertise     MsgType = 0x00
	TypeSearchGW      MsgType = 0x01
	TypeGWInfo        MsgType = 0x02
	TypeConnect       MsgType = 0x04
	TypeConnack       MsgType = 0x05
	TypeWillTopicReq  MsgType = 0x06
	TypeWillTopic     MsgType = 0x07
	TypeWillMsgReq    MsgType = 0x08
	TypeWillMsg       MsgType = 0x09
	TypeRegister      MsgType = 0x0A
	TypeRegack        MsgType = 0x0B
	TypePublish       MsgType = 0x0C
	TypePuback        MsgType = 0x0D
	TypePubcomp       MsgType = 0x0E
	TypePubrec        MsgType = 0x0F
	TypePubrel        MsgType = 0x10
	TypeSubscribe     MsgType = 0x12
	TypeSuback        MsgType = 0x13
	TypeUnsubscribe   MsgType = 0x14
	TypeUnsuback      MsgType = 0x15
	TypePingreq       MsgType = 0x16
	TypePingresp      MsgType = 0x17
	TypeDisconnect    MsgType = 0x18
	TypeWillTopicUpd  MsgType = 0x1A
	TypeWillTopicResp MsgType = 0x1B
	TypeWillMsgUpd    MsgType = 0x1C
	TypeWillMsgResp   MsgType = 0x1D
	TypeEncapsulated  MsgType = 0xFE
)

var msgTypeNames = [...]string{
	TypeAdvertise:     "ADVERTISE",
	TypeSearchGW:      "SEARCHGW",
	TypeGWInfo:        "GWINFO",
	TypeConnect:       "CONNECT",
	TypeConnack:       "CONNACK",
	TypeWillTopicReq:  "WILLTOPICREQ",
	TypeWillTopic:     "WILLTOPIC",
	TypeWillMsgReq:    "WILLMSGREQ",
	TypeWillMsg:       "WILLMSG",
	TypeRegister:      "REGISTER",
	TypeRegack:        "REGACK",
	TypePublish:       "PUBLISH",
	TypePuback:        "PUBACK",
	TypePubcomp:       "PUBCOMP",
	TypePubrec:        "PUBREC",
	TypePubrel:        "PUBREL",
	TypeSubscribe:     "SUBSCRIBE",
	TypeSuback:        "SUBACK",
	TypeUnsubscribe:   "UNSUBSCRIBE",
	TypeUnsuback:      "UNSUBACK",
	TypePingreq:       "PINGREQ",
	TypePingresp:      "PINGRESP",
	TypeDisconnect:    "DISCONNECT",
	TypeWillTopicUpd:  "WILLTOPICUPD",
	TypeWillTopicResp: "WILLTOPICRESP",
	TypeWillMsgUpd:    "WILLMSGUPD",
	TypeWillMsgResp:   "WILLMSGRESP",
}

// Valid reports whether t is a message type defined by MQTT-SN v1.2
// (reserved values are not valid).
func (t MsgType) Valid() bool {
	if t == TypeEncapsulated {
		return true
	}
	return int(t) < len(msgTypeNames) && msgTypeNames[t] != ""
}

func (t MsgType) String() string {
	if t == TypeEncapsulated {
		return "ENCAPSULATED"
	}
	if t.Valid() {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("RESERVED(0x%02X)", uint8(t))
}

// QoS is a quality-of-service level. MQTT-SN adds level -1, "publish
// without connection", which only PUBLISH may carry. [MQTT-SN 1.2 §5.3.4, §6.8]
type QoS int8

// QoS levels.
const (
	QoSMinus1 QoS = -1
	QoS0      QoS = 0
	QoS1      QoS = 1
	QoS2      QoS = 2
)

func (q QoS) String() string {
	switch q {
	case QoSMinus1, QoS0, QoS1, QoS2:
		return fmt.Sprintf("%d", int8(q))
	}
	return fmt.Sprintf("QoS(%d)", int8(q))
}

// TopicIDType says how the TopicId/TopicName field of a message is to be
// read. [MQTT-SN 1.2 §5.3.4]
type TopicIDType uint8

// Topic id types. The value 0b11 is reserved and rejected by [Parse].
const (
	TopicIDNormal     TopicIDType = 0 // registered topic id, or a topic name in SUBSCRIBE/UNSUBSCRIBE
	TopicIDPredefined TopicIDType = 1 // pre-defined topic id
	TopicIDShort      TopicIDType = 2 // short topic name (2 octets)
)

func (t TopicIDType) String() string {
	switch t {
	case TopicIDNormal:
		return "normal"
	case TopicIDPredefined:
		return "predefined"
	case TopicIDShort:
		return "short"
	}
	return fmt.Sprintf("TopicIDType(%d)", uint8(t))
}

// Flags is the decoded Flags octet. [MQTT-SN 1.2 §5.3.4]
//
//	bit 7 DUP | bits 6-5 QoS | bit 4 Retain | bit 3 Will | bit 2 CleanSession | bits 1-0 TopicIdType
//
// Each message reads only the flags the spec names for it; the codec
// rejects a QoS of -1 outside PUBLISH and a reserved TopicIdType.
type Flags struct {
	DUP          bool
	QoS          QoS
	Retain       bool
	Will         bool
	CleanSession bool
	TopicIDType  TopicIDType
}

// ReturnCode is the ReturnCode field of CONNACK, REGACK, PUBACK, SUBACK,
// WILLTOPICRESP and WILLMSGRESP. [MQTT-SN 1.2 §5.3.10]
type ReturnCode uint8

// Return codes. Values 0x04-0xFF are reserved.
const (
	Accepted               ReturnCode = 0x00
	RejectedCongestion     ReturnCode = 0x01
	RejectedInvalidTopicID ReturnCode = 0x02
	RejectedNotSupported   ReturnCode = 0x03
)

func (r ReturnCode) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case RejectedCongestion:
		return "rejected: congestion"
	case RejectedInvalidTopicID:
		return "rejected: invalid topic id"
	case RejectedNotSupported:
		return "rejected: not supported"
	}
	return fmt.Sprintf("reserved return code 0x%02X", uint8(r))
}

// ProtocolID is the only ProtocolId value of MQTT-SN v1.2. [MQTT-SN 1.2 §5.3.8]
const ProtocolID = 0x01

// Reserved topic id values. [MQTT-SN 1.2 §5.3.11]
const (
	TopicIDReserved0   uint16 = 0x0000 // also the topic id of a wildcard SUBACK
	TopicIDReservedMax uint16 = 0xFFFF
)

// MaxClientIDLen is the longest ClientId allowed. [MQTT-SN 1.2 §5.3.1]
const MaxClientIDLen = 23

// The message structs below are the variable parts of each message type.
// Every []byte field ALIASES the buffer given to [Parse]: copy what you
// keep beyond the lifetime of that buffer.

// Advertise is sent periodically by a gateway. [MQTT-SN 1.2 §5.4.1]
type Advertise struct {
	GwID     uint8
	Duration uint16 // seconds until the next ADVERTISE
}

// SearchGW is broadcast by a client looking for a gateway. [MQTT-SN 1.2 §5.4.2]
type SearchGW struct {
	Radius uint8
}

// GWInfo answers SEARCHGW. GwAdd is present only when a client answers on
// behalf of a gateway; empty means absent. [MQTT-SN 1.2 §5.4.3]
type GWInfo struct {
	GwID  uint8
	GwAdd []byte // aliases the parsed buffer
}

// Connect opens a session. Only Flags.Will and Flags.CleanSession are
// meaningful. [MQTT-SN 1.2 §5.4.4]
type Connect struct {
	Flags      Flags
	ProtocolID uint8
	Duration   uint16 // keep-alive, seconds
	ClientID   []byte // 1..23 octets; aliases the parsed buffer
}

// Connack answers CONNECT. [MQTT-SN 1.2 §5.4.5]
type Connack struct {
	ReturnCode ReturnCode
}

// WillTopicReq asks the client for its will topic. [MQTT-SN 1.2 §5.4.6]
type WillTopicReq struct{}

// WillTopic carries the will topic, QoS and retain flag. The empty form (no
// Flags octet, no topic) means "no will"; Empty reports it.
// [MQTT-SN 1.2 §5.4.7]
type WillTopic struct {
	Flags Flags  // QoS and Retain
	Topic []byte // aliases the parsed buffer; empty in the empty form
}

// Empty reports whether m is the empty form (length 2).
func (m *WillTopic) Empty() bool { return len(m.Topic) == 0 }

// WillMsgReq asks the client for its will message. [MQTT-SN 1.2 §5.4.8]
type WillMsgReq struct{}

// WillMsg carries the will message. [MQTT-SN 1.2 §5.4.9]
type WillMsg struct {
	Msg []byte // aliases the parsed buffer; may be empty
}

// Register maps a topic name to a topic id, in either direction. A client
// sends TopicID 0x0000. [MQTT-SN 1.2 §5.4.10]
type Register struct {
	TopicID   uint16
	MsgID     uint16
	TopicName []byte // aliases the parsed buffer; never empty
}

// Regack answers REGISTER. [MQTT-SN 1.2 §5.4.11]
type Regack struct {
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Publish carries application data, in either direction. With
// Flags.TopicIDType == TopicIDShort, TopicID holds the two characters of the
// short topic name (first character in the high octet).
// [MQTT-SN 1.2 §5.4.12]
type Publish struct {
	Flags   Flags // DUP, QoS (-1..2), Retain, TopicIdType
	TopicID uint16
	MsgID   uint16 // 0x0000 for QoS 0 and -1 (a non-zero value is accepted on parse)
	Data    []byte // aliases the parsed buffer; may be empty
}

// Puback acknowledges a QoS 1 PUBLISH, or rejects any PUBLISH.
// [MQTT-SN 1.2 §5.4.13]
type Puback struct {
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Pubrec is the first acknowledgement of a QoS 2 PUBLISH. [MQTT-SN 1.2 §5.4.14]
type Pubrec struct{ MsgID uint16 }

// Pubrel releases a QoS 2 PUBLISH. [MQTT-SN 1.2 §5.4.14]
type Pubrel struct{ MsgID uint16 }

// Pubcomp completes a QoS 2 PUBLISH. [MQTT-SN 1.2 §5.4.14]
type Pubcomp struct{ MsgID uint16 }

// Subscribe asks for a topic filter, a predefined topic id or a short
// topic name, chosen by Flags.TopicIDType: TopicName is set for
// TopicIDNormal, TopicID for the other two. [MQTT-SN 1.2 §5.4.15]
type Subscribe struct {
	Flags     Flags // DUP, QoS (0..2), TopicIdType
	MsgID     uint16
	TopicName []byte // aliases the parsed buffer (TopicIDNormal only)
	TopicID   uint16 // TopicIDPredefined or TopicIDShort only
}

// Suback answers SUBSCRIBE. TopicID is 0x0000 for a wildcard filter.
// [MQTT-SN 1.2 §5.4.16]
type Suback struct {
	Flags      Flags // granted QoS
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Unsubscribe cancels a subscription; fields as in [Subscribe].
// [MQTT-SN 1.2 §5.4.17]
type Unsubscribe struct {
	Flags     Flags // TopicIdType
	MsgID     uint16
	TopicName []byte // aliases the parsed buffer (TopicIDNormal only)
	TopicID   uint16 // TopicIDPredefined or TopicIDShort only
}

// Unsuback answers UNSUBSCRIBE. [MQTT-SN 1.2 §5.4.18]
type Unsuback struct{ MsgID uint16 }

// Pingreq is a keep-alive, or, with a ClientID, a sleeping client waking up
// to collect its messages. Empty ClientID means absent. [MQTT-SN 1.2 §5.4.19]
type Pingreq struct {
	ClientID []byte // aliases the parsed buffer
}

// Pingresp answers PINGREQ. [MQTT-SN 1.2 §5.4.20]
type Pingresp struct{}

// Disconnect ends a session, or, with a Duration, sends the client to sleep.
// [MQTT-SN 1.2 §5.4.21]
type Disconnect struct {
	HasDuration bool
	Duration    uint16 // seconds; meaningful only when HasDuration
}

// WillTopicUpd updates the will topic; the empty form deletes the will.
// [MQTT-SN 1.2 §5.4.22]
type WillTopicUpd struct {
	Flags Flags  // QoS and Retain
	Topic []byte // aliases the parsed buffer; empty in the empty form
}

// Empty reports whether m is the empty form (length 2).
func (m *WillTopicUpd) Empty() bool { return len(m.Topic) == 0 }

// WillMsgUpd updates the will message. [MQTT-SN 1.2 §5.4.23]
type WillMsgUpd struct {
	Msg []byte // aliases the parsed buffer
}

// WillTopicResp answers WILLTOPICUPD. [MQTT-SN 1.2 §5.4.24]
type WillTopicResp struct{ ReturnCode ReturnCode }

// WillMsgResp answers WILLMSGUPD. [MQTT-SN 1.2 §5.4.25]
type WillMsgResp struct{ ReturnCode ReturnCode }

// Encapsulated is a Forwarder Encapsulation frame: a forwarder wraps a
// client's message and names the client by its Wireless Node Id.
// Message holds the complete inner MQTT-SN message (with its own length
// header); parse it with another call to [Parse]. [MQTT-SN 1.2 §5.5]
type Encapsulated struct {
	Radius  uint8  // bits 1-0 of the Ctrl octet
	NodeID  []byte // Wireless Node Id; aliases the parsed buffer
	Message []byte // the encapsulated message; aliases the parsed buffer
}

// Packet is one MQTT-SN message: Type selects which field is meaningful.
// A Packet is meant to be reused across calls to [Parse]; Parse sets Type
// and the selected field and leaves the others untouched.
type Packet struct {
	Type MsgType

	Advertise     Advertise
	SearchGW      SearchGW
	GWInfo        GWInfo
	Connect       Connect
	Connack       Connack
	WillTopicReq  WillTopicReq
	WillTopic     WillTopic
	WillMsgReq    WillMsgReq
	WillMsg       WillMsg
	Register      Register
	Regack        Regack
	Publish       Publish
	Puback        Puback
	Pubrec        Pubrec
	Pubrel        Pubrel
	Pubcomp       Pubcomp
	Subscribe     Subscribe
	Suback        Suback
	Unsubscribe   Unsubscribe
	Unsuback      Unsuback
	Pingreq       Pingreq
	Pingresp      Pingresp
	Disconnect    Disconnect
	WillTopicUpd  WillTopicUpd
	WillMsgUpd    WillMsgUpd
	WillTopicResp WillTopicResp
	WillMsgResp   WillMsgResp
	Encapsulated  Encapsulated
}
