package mqttsn

// ---- SUBSCRIBE and UNSUBSCRIBE [MQTT-SN 1.2 §5.4.15, §5.4.17]
//
// After Flags and MsgId comes a topic name (TopicIdType normal, non-empty;
// a filter, wildcards allowed), a pre-defined topic id (not 0x0000 or
// 0xFFFF [MQTT-SN 1.2 §5.3.11]) or a short topic name (exactly 2 octets).
// The topic filter syntax is not checked here: a gateway answers a bad
// filter with a SUBACK return code, see [ValidateTopicFilter].

// parseTopicRef reads the topic part of SUBSCRIBE/UNSUBSCRIBE at offset 3.
func parseTopicRef(r *reader, t TopicIDType, name *[]byte, id *uint16) fieldErr {
	if r.fe.err != nil {
		return r.fe
	}
	if !validTopicIDType(t) {
		return fieldErr{"Flags", 0, ErrReserved}
	}
	if t == TopicIDNormal {
		*name, *id = r.rest(), 0
	} else {
		*name, *id = nil, r.u16("TopicId")
	}
	if fe := r.end(); fe.err != nil {
		return fe
	}
	return checkTopicRef(t, *name, *id)
}

func checkTopicRef(t TopicIDType, name []byte, id uint16) fieldErr {
	switch {
	case !validTopicIDType(t):
		return fieldErr{"Flags", 0, ErrReserved}
	case t == TopicIDNormal && len(name) == 0:
		return fieldErr{"TopicName", 3, ErrEmptyTopic}
	case t == TopicIDPredefined && reservedTopicID(id):
		return fieldErr{"TopicId", 3, ErrTopicID}
	}
	return fieldErr{}
}

func appendTopicRef(b []byte, t MsgType, f Flags, mask byte, msgID uint16, name []byte, id uint16) ([]byte, error) {
	n := 3 + 2
	if f.TopicIDType == TopicIDNormal {
		n = 3 + len(name)
	}
	b, err := appendHeader(b, t, n)
	if err != nil {
		return b, err
	}
	b = appendUint16(append(b, f.Byte()&mask), msgID)
	if f.TopicIDType == TopicIDNormal {
		return append(b, name...), nil
	}
	return appendUint16(b, id), nil
}

func (m *Subscribe) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Flags = ParseFlags(r.u8("Flags") & maskSubscribe)
	m.MsgID = r.u16("MsgId")
	if fe := parseTopicRef(&r, m.Flags.TopicIDType, &m.TopicName, &m.TopicID); fe.err != nil {
		return fe
	}
	return checkSubQoS(m.Flags)
}

// checkSubQoS: a requested or granted QoS is 0..2; -1 is PUBLISH only.
// [MQTT-SN 1.2 §5.3.4]
func checkSubQoS(f Flags) fieldErr {
	if f.QoS < QoS0 || f.QoS > QoS2 {
		return fieldErr{"Flags", 0, ErrQoS}
	}
	return fieldErr{}
}

// AppendBinary appends the SUBSCRIBE message to b: TopicName for
// TopicIDNormal, TopicID otherwise. Only the DUP, QoS and TopicIdType
// flags are written.
func (m *Subscribe) AppendBinary(b []byte) ([]byte, error) {
	fe := checkSubQoS(m.Flags)
	if fe.err == nil {
		fe = checkTopicRef(m.Flags.TopicIDType, m.TopicName, m.TopicID)
	}
	if fe.err != nil {
		return b, fe.encodeError(TypeSubscribe)
	}
	return appendTopicRef(b, TypeSubscribe, m.Flags, maskSubscribe, m.MsgID, m.TopicName, m.TopicID)
}

func (m *Unsubscribe) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Flags = ParseFlags(r.u8("Flags") & maskUnsubscribe)
	m.MsgID = r.u16("MsgId")
	return parseTopicRef(&r, m.Flags.TopicIDType, &m.TopicName, &m.TopicID)
}

// AppendBinary appends the UNSUBSCRIBE message to b: TopicName for
// TopicIDNormal, TopicID otherwise. Only the TopicIdType flag is written.
func (m *Unsubscribe) AppendBinary(b []byte) ([]byte, error) {
	if fe := checkTopicRef(m.Flags.TopicIDType, m.TopicName, m.TopicID); fe.err != nil {
		return b, fe.encodeError(TypeUnsubscribe)
	}
	return appendTopicRef(b, TypeUnsubscribe, m.Flags, maskUnsubscribe, m.MsgID, m.TopicName, m.TopicID)
}

// ---- SUBACK [MQTT-SN 1.2 §5.4.16]
//
// TopicId is 0x0000 for a wildcard filter or a short topic name and has no
// meaning in a rejection; an accepted SUBACK may not carry 0xFFFF.

func (m *Suback) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Flags = ParseFlags(r.u8("Flags") & maskSuback)
	m.TopicID = r.u16("TopicId")
	m.MsgID = r.u16("MsgId")
	m.ReturnCode = ReturnCode(r.u8("ReturnCode"))
	if fe := r.end(); fe.err != nil {
		return fe
	}
	return m.validate()
}

func (m *Suback) validate() fieldErr {
	if fe := checkSubQoS(m.Flags); fe.err != nil {
		return fe
	}
	if fe := checkReturnCode(m.ReturnCode, 5); fe.err != nil {
		return fe
	}
	if m.ReturnCode == Accepted && m.TopicID == TopicIDReservedMax {
		return fieldErr{"TopicId", 1, ErrTopicID}
	}
	return fieldErr{}
}

// AppendBinary appends the SUBACK message to b. Only the QoS flag is
// written.
func (m *Suback) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypeSuback)
	}
	return appendFixed(b, TypeSuback, m.Flags.Byte()&maskSuback,
		byte(m.TopicID>>8), byte(m.TopicID), byte(m.MsgID>>8), byte(m.MsgID), byte(m.ReturnCode)), nil
}

// ---- PINGREQ [MQTT-SN 1.2 §5.4.19]: ClientId present only when a
// sleeping client wakes up; when present it is 1..23 octets.

func (m *Pingreq) parse(b []byte) fieldErr {
	m.ClientID = nilIfEmpty(b)
	return m.validate()
}

func (m *Pingreq) validate() fieldErr {
	if len(m.ClientID) > 0 {
		return checkClientID(m.ClientID, 0)
	}
	return fieldErr{}
}

// AppendBinary appends the PINGREQ message to b, with ClientId if
// non-empty.
func (m *Pingreq) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypePingreq)
	}
	return append(append(b, byte(2+len(m.ClientID)), byte(TypePingreq)), m.ClientID...), nil
}

// ---- DISCONNECT [MQTT-SN 1.2 §5.4.21]: Duration present only when a
// client goes to sleep.

func (m *Disconnect) parse(b []byte) fieldErr {
	m.HasDuration, m.Duration = false, 0
	if len(b) == 0 {
		return fieldErr{}
	}
	r := reader{b: b}
	m.HasDuration, m.Duration = true, r.u16("Duration")
	return r.end()
}

// AppendBinary appends the DISCONNECT message to b, with Duration if
// HasDuration.
func (m *Disconnect) AppendBinary(b []byte) ([]byte, error) {
	if !m.HasDuration {
		return appendFixed(b, TypeDisconnect), nil
	}
	return appendFixed(b, TypeDisconnect, byte(m.Duration>>8), byte(m.Duration)), nil
}

// ---- WILLTOPICRESP and WILLMSGRESP [MQTT-SN 1.2 §5.4.24, §5.4.25]

// AppendBinary appends the WILLTOPICRESP message to b.
func (m *WillTopicResp) AppendBinary(b []byte) ([]byte, error) {
	return appendReturnCode(b, TypeWillTopicResp, m.ReturnCode)
}

// AppendBinary appends the WILLMSGRESP message to b.
func (m *WillMsgResp) AppendBinary(b []byte) ([]byte, error) {
	return appendReturnCode(b, TypeWillMsgResp, m.ReturnCode)
}

// ---- Forwarder Encapsulation [MQTT-SN 1.2 §5.5]
//
// Length covers Length, MsgType, Ctrl and the Wireless Node Id only; the
// inner message follows with its own header. The codec checks that the
// Node Id is not empty and that the inner message is one whole message
// (its Length equals the octets left) of another type than 0xFE; callers
// parse it with another call to Parse. The reserved Ctrl bits 7-2 are
// ignored on parse and written as 0.

const ctrlRadius = 0x03

func (m *Encapsulated) parse(b, after []byte) fieldErr {
	r := reader{b: b}
	m.Radius = r.u8("Ctrl") & ctrlRadius
	m.NodeID = r.rest()
	m.Message = nilIfEmpty(after)
	if r.fe.err != nil {
		return r.fe
	}
	return m.validate()
}

func (m *Encapsulated) validate() fieldErr {
	if m.Radius > ctrlRadius {
		return fieldErr{"Ctrl", 0, ErrReserved}
	}
	if len(m.NodeID) == 0 {
		return fieldErr{"WirelessNodeId", 1, ErrTruncated}
	}
	off := 1 + len(m.NodeID)
	if len(m.Message) == 0 {
		return fieldErr{"Message", off, ErrTruncated}
	}
	n, hdr, inner := messageLength(m.Message)
	switch {
	case inner.err != nil:
		return fieldErr{"Message", off + inner.off, inner.err}
	case MsgType(m.Message[hdr]) == TypeEncapsulated:
		return fieldErr{"Message", off + hdr, ErrNested}
	case n > len(m.Message):
		return fieldErr{"Message", off, ErrTruncated}
	case n < len(m.Message):
		return fieldErr{"Message", off + n, ErrTrailing}
	}
	return fieldErr{}
}

// AppendBinary appends the encapsulation header and then Message, which
// must be one complete MQTT-SN message (encode it first with its own
// AppendBinary).
func (m *Encapsulated) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypeEncapsulated)
	}
	b, err := appendHeader(b, TypeEncapsulated, 1+len(m.NodeID))
	if err != nil {
		return b, err
	}
	return append(append(append(b, m.Radius), m.NodeID...), m.Message...), nil
}
