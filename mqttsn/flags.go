package mqttsn

import "strings"

// Bits of the Flags octet. [MQTT-SN 1.2 §5.3.4, Table 4]
const (
	flagDUP          = 0x80
	flagQoS          = 0x60
	flagRetain       = 0x10
	flagWill         = 0x08
	flagCleanSession = 0x04
	flagTopicIDType  = 0x03
)

// The flags each message reads; the others are "not used" and are
// ignored on parse and written as 0 on encode.
const (
	maskConnect     = flagWill | flagCleanSession
	maskWillTopic   = flagQoS | flagRetain
	maskPublish     = flagDUP | flagQoS | flagRetain | flagTopicIDType
	maskSubscribe   = flagDUP | flagQoS | flagTopicIDType
	maskSuback      = flagQoS
	maskUnsubscribe = flagTopicIDType
)

// ParseFlags decodes a Flags octet, every bit of it. The QoS bits 0b11
// decode as [QoSMinus1]; the reserved TopicIdType 0b11 decodes as
// TopicIDType(3), which [Parse] rejects. [MQTT-SN 1.2 §5.3.4]
func ParseFlags(b byte) Flags {
	q := QoS((b & flagQoS) >> 5)
	if q == 3 {
		q = QoSMinus1
	}
	return Flags{
		DUP:          b&flagDUP != 0,
		QoS:          q,
		Retain:       b&flagRetain != 0,
		Will:         b&flagWill != 0,
		CleanSession: b&flagCleanSession != 0,
		TopicIDType:  TopicIDType(b & flagTopicIDType),
	}
}

// Byte encodes f as a Flags octet, the inverse of [ParseFlags] for valid
// values. QoS -1 encodes as 0b11; out-of-range QoS and TopicIDType values
// are truncated to their bits (the AppendBinary methods reject them
// before calling Byte).
func (f Flags) Byte() byte {
	var b byte
	if f.DUP {
		b |= flagDUP
	}
	b |= byte(f.QoS) << 5 & flagQoS
	if f.Retain {
		b |= flagRetain
	}
	if f.Will {
		b |= flagWill
	}
	if f.CleanSession {
		b |= flagCleanSession
	}
	return b | byte(f.TopicIDType)&flagTopicIDType
}

// String renders the flags that are set, e.g. "dup qos=1 retain
// topic_id_type=short"; QoS and TopicIdType are always shown.
func (f Flags) String() string {
	var s strings.Builder
	if f.DUP {
		s.WriteString("dup ")
	}
	s.WriteString("qos=")
	s.WriteString(f.QoS.String())
	if f.Retain {
		s.WriteString(" retain")
	}
	if f.Will {
		s.WriteString(" will")
	}
	if f.CleanSession {
		s.WriteString(" clean")
	}
	s.WriteString(" topic_id_type=")
	s.WriteString(f.TopicIDType.String())
	return s.String()
}

func validQoS(q QoS) bool { return q >= QoSMinus1 && q <= QoS2 }

func validTopicIDType(t TopicIDType) bool { return t <= TopicIDShort }

func validReturnCode(r ReturnCode) bool { return r <= RejectedNotSupported }

func reservedTopicID(id uint16) bool { return id == TopicIDReserved0 || id == TopicIDReservedMax }
