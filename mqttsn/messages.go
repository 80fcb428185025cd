package mqttsn

// Per message type: parse reads the variable part (offsets in errors are
// relative to it), validate checks the rules Parse and AppendBinary share,
// and AppendBinary encodes. Field names in errors are the spec's.

// checkReturnCode rejects the reserved return codes 0x04-0xFF.
// [MQTT-SN 1.2 §5.3.10]
func checkReturnCode(rc ReturnCode, off int) fieldErr {
	if !validReturnCode(rc) {
		return fieldErr{"ReturnCode", off, ErrReserved}
	}
	return fieldErr{}
}

// checkClientID enforces 1..23 octets. [MQTT-SN 1.2 §5.3.1]
func checkClientID(id []byte, off int) fieldErr {
	if len(id) < 1 || len(id) > MaxClientIDLen {
		return fieldErr{"ClientId", off, ErrClientID}
	}
	return fieldErr{}
}

// ---- ADVERTISE [MQTT-SN 1.2 §5.4.1]

func (m *Advertise) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.GwID = r.u8("GwId")
	m.Duration = r.u16("Duration")
	return r.end()
}

// AppendBinary appends the ADVERTISE message to b.
func (m *Advertise) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypeAdvertise, m.GwID, byte(m.Duration>>8), byte(m.Duration)), nil
}

// ---- SEARCHGW [MQTT-SN 1.2 §5.4.2]

func (m *SearchGW) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Radius = r.u8("Radius")
	return r.end()
}

// AppendBinary appends the SEARCHGW message to b.
func (m *SearchGW) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypeSearchGW, m.Radius), nil
}

// ---- GWINFO [MQTT-SN 1.2 §5.4.3]: GwAdd only when sent by a client.

func (m *GWInfo) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.GwID = r.u8("GwId")
	m.GwAdd = r.rest()
	return r.fe
}

// AppendBinary appends the GWINFO message to b, with GwAdd if non-empty.
func (m *GWInfo) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendHeader(b, TypeGWInfo, 1+len(m.GwAdd))
	if err != nil {
		return b, err
	}
	return append(append(b, m.GwID), m.GwAdd...), nil
}

// ---- CONNECT [MQTT-SN 1.2 §5.4.4]

func (m *Connect) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Flags = ParseFlags(r.u8("Flags") & maskConnect)
	m.ProtocolID = r.u8("ProtocolId")
	m.Duration = r.u16("Duration")
	m.ClientID = r.rest()
	if r.fe.err != nil {
		return r.fe
	}
	return m.validate()
}

func (m *Connect) validate() fieldErr {
	if m.ProtocolID != ProtocolID {
		return fieldErr{"ProtocolId", 1, ErrProtocolID} // [MQTT-SN 1.2 §5.3.8]
	}
	return checkClientID(m.ClientID, 4)
}

// AppendBinary appends the CONNECT message to b. Only the Will and
// CleanSession flags are written.
func (m *Connect) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypeConnect)
	}
	b = append(b, byte(6+len(m.ClientID)), byte(TypeConnect), m.Flags.Byte()&maskConnect, m.ProtocolID)
	return append(appendUint16(b, m.Duration), m.ClientID...), nil
}

// ---- CONNACK [MQTT-SN 1.2 §5.4.5]

func (m *Connack) parse(b []byte) fieldErr {
	return parseReturnCode(b, &m.ReturnCode)
}

// AppendBinary appends the CONNACK message to b.
func (m *Connack) AppendBinary(b []byte) ([]byte, error) {
	return appendReturnCode(b, TypeConnack, m.ReturnCode)
}

func appendReturnCode(b []byte, t MsgType, rc ReturnCode) ([]byte, error) {
	if fe := checkReturnCode(rc, 0); fe.err != nil {
		return b, fe.encodeError(t)
	}
	return appendFixed(b, t, byte(rc)), nil
}

// ---- WILLTOPICREQ, WILLMSGREQ, PINGRESP: header only.
// [MQTT-SN 1.2 §5.4.6, §5.4.8, §5.4.20]

// AppendBinary appends the WILLTOPICREQ message to b.
func (m *WillTopicReq) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypeWillTopicReq), nil
}

// AppendBinary appends the WILLMSGREQ message to b.
func (m *WillMsgReq) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypeWillMsgReq), nil
}

// AppendBinary appends the PINGRESP message to b.
func (m *Pingresp) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypePingresp), nil
}

// ---- WILLTOPIC and WILLTOPICUPD [MQTT-SN 1.2 §5.4.7, §5.4.22]: Flags and
// topic, or the empty form (exactly 2 octets) that deletes the will.

func parseWillTopic(b []byte, f *Flags, topic *[]byte) fieldErr {
	if len(b) == 0 { // the empty form
		*f, *topic = Flags{}, nil
		return fieldErr{}
	}
	r := reader{b: b}
	*f = ParseFlags(r.u8("Flags") & maskWillTopic)
	*topic = r.rest()
	if len(*topic) == 0 {
		return fieldErr{"WillTopic", 1, ErrEmptyTopic}
	}
	return checkWillQoS(*f)
}

// checkWillQoS: the will QoS is an MQTT QoS, 0..2.
func checkWillQoS(f Flags) fieldErr {
	if f.QoS < QoS0 || f.QoS > QoS2 {
		return fieldErr{"Flags", 0, ErrQoS}
	}
	return fieldErr{}
}

func appendWillTopic(b []byte, t MsgType, f Flags, topic []byte) ([]byte, error) {
	if len(topic) == 0 {
		return appendFixed(b, t), nil
	}
	if fe := checkWillQoS(f); fe.err != nil {
		return b, fe.encodeError(t)
	}
	b, err := appendHeader(b, t, 1+len(topic))
	if err != nil {
		return b, err
	}
	return append(append(b, f.Byte()&maskWillTopic), topic...), nil
}

func (m *WillTopic) parse(b []byte) fieldErr { return parseWillTopic(b, &m.Flags, &m.Topic) }

// AppendBinary appends the WILLTOPIC message to b: the empty form when
// Topic is empty, else the QoS and Retain flags and the topic.
func (m *WillTopic) AppendBinary(b []byte) ([]byte, error) {
	return appendWillTopic(b, TypeWillTopic, m.Flags, m.Topic)
}

func (m *WillTopicUpd) parse(b []byte) fieldErr { return parseWillTopic(b, &m.Flags, &m.Topic) }

// AppendBinary appends the WILLTOPICUPD message to b: the empty form when
// Topic is empty, else the QoS and Retain flags and the topic.
func (m *WillTopicUpd) AppendBinary(b []byte) ([]byte, error) {
	return appendWillTopic(b, TypeWillTopicUpd, m.Flags, m.Topic)
}

// ---- WILLMSG and WILLMSGUPD [MQTT-SN 1.2 §5.4.9, §5.4.23]: the will
// message, possibly empty.

func (m *WillMsg) parse(b []byte) fieldErr {
	m.Msg = nilIfEmpty(b)
	return fieldErr{}
}

// AppendBinary appends the WILLMSG message to b.
func (m *WillMsg) AppendBinary(b []byte) ([]byte, error) {
	return appendData(b, TypeWillMsg, m.Msg)
}

func (m *WillMsgUpd) parse(b []byte) fieldErr {
	m.Msg = nilIfEmpty(b)
	return fieldErr{}
}

// AppendBinary appends the WILLMSGUPD message to b.
func (m *WillMsgUpd) AppendBinary(b []byte) ([]byte, error) {
	return appendData(b, TypeWillMsgUpd, m.Msg)
}

func appendData(b []byte, t MsgType, data []byte) ([]byte, error) {
	b, err := appendHeader(b, t, len(data))
	if err != nil {
		return b, err
	}
	return append(b, data...), nil
}

// ---- REGISTER [MQTT-SN 1.2 §5.4.10]
//
// TopicId is 0x0000 when a client sends it and the assigned id when a
// gateway does. The codec does not know the direction, so it accepts
// 0x0000 and any assigned id, and rejects only 0xFFFF, which is reserved
// in both directions [MQTT-SN 1.2 §5.3.11]. A gateway ignores the id of a
// client's REGISTER; a client checks the gateway's is not 0x0000.

func (m *Register) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.TopicID = r.u16("TopicId")
	m.MsgID = r.u16("MsgId")
	m.TopicName = r.rest()
	if r.fe.err != nil {
		return r.fe
	}
	return m.validate()
}

func (m *Register) validate() fieldErr {
	if m.TopicID == TopicIDReservedMax {
		return fieldErr{"TopicId", 0, ErrTopicID}
	}
	if len(m.TopicName) == 0 {
		return fieldErr{"TopicName", 4, ErrEmptyTopic}
	}
	return fieldErr{}
}

// AppendBinary appends the REGISTER message to b.
func (m *Register) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypeRegister)
	}
	b, err := appendHeader(b, TypeRegister, 4+len(m.TopicName))
	if err != nil {
		return b, err
	}
	b = appendUint16(appendUint16(b, m.TopicID), m.MsgID)
	return append(b, m.TopicName...), nil
}

// ---- REGACK [MQTT-SN 1.2 §5.4.11]
//
// An accepted REGACK carries "the value that shall be used as topic id in
// the PUBLISH messages", so it may not be reserved; a rejecting REGACK
// may carry any id, typically 0x0000 (the spec gives it no meaning).

func (m *Regack) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.TopicID = r.u16("TopicId")
	m.MsgID = r.u16("MsgId")
	m.ReturnCode = ReturnCode(r.u8("ReturnCode"))
	if fe := r.end(); fe.err != nil {
		return fe
	}
	return m.validate()
}

func (m *Regack) validate() fieldErr {
	if fe := checkReturnCode(m.ReturnCode, 4); fe.err != nil {
		return fe
	}
	if m.ReturnCode == Accepted && reservedTopicID(m.TopicID) {
		return fieldErr{"TopicId", 0, ErrTopicID}
	}
	return fieldErr{}
}

// AppendBinary appends the REGACK message to b.
func (m *Regack) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypeRegack)
	}
	return appendIDsCode(b, TypeRegack, m.TopicID, m.MsgID, m.ReturnCode), nil
}

func appendIDsCode(b []byte, t MsgType, topicID, msgID uint16, rc ReturnCode) []byte {
	return appendFixed(b, t, byte(topicID>>8), byte(topicID), byte(msgID>>8), byte(msgID), byte(rc))
}

// ---- PUBLISH [MQTT-SN 1.2 §5.4.12]
//
// A normal or pre-defined topic id may not be 0x0000 or 0xFFFF
// [MQTT-SN 1.2 §5.3.11]; a short topic name is two characters, not an id,
// and is not checked here. QoS -1 needs a pre-defined id or a short name
// [MQTT-SN 1.2 §6.8]. MsgId "only relevant in case of QoS levels 1 and 2,
// otherwise coded 0x0000": a non-zero MsgId with QoS 0 or -1 is accepted
// and kept, because real clients send it.

func (m *Publish) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.Flags = ParseFlags(r.u8("Flags") & maskPublish)
	m.TopicID = r.u16("TopicId")
	m.MsgID = r.u16("MsgId")
	m.Data = r.rest()
	if r.fe.err != nil {
		return r.fe
	}
	return m.validate()
}

func (m *Publish) validate() fieldErr {
	f := m.Flags
	switch {
	case !validQoS(f.QoS):
		return fieldErr{"Flags", 0, ErrQoS}
	case !validTopicIDType(f.TopicIDType):
		return fieldErr{"Flags", 0, ErrReserved}
	case f.QoS == QoSMinus1 && f.TopicIDType == TopicIDNormal:
		return fieldErr{"Flags", 0, ErrQoS}
	case f.TopicIDType != TopicIDShort && reservedTopicID(m.TopicID):
		return fieldErr{"TopicId", 1, ErrTopicID}
	}
	return fieldErr{}
}

// AppendBinary appends the PUBLISH message to b. Only the DUP, QoS,
// Retain and TopicIdType flags are written.
func (m *Publish) AppendBinary(b []byte) ([]byte, error) {
	if fe := m.validate(); fe.err != nil {
		return b, fe.encodeError(TypePublish)
	}
	b, err := appendHeader(b, TypePublish, 5+len(m.Data))
	if err != nil {
		return b, err
	}
	b = append(b, m.Flags.Byte()&maskPublish)
	b = appendUint16(appendUint16(b, m.TopicID), m.MsgID)
	return append(b, m.Data...), nil
}

// ---- PUBACK [MQTT-SN 1.2 §5.4.13]
//
// TopicId echoes the PUBLISH it answers, whose TopicIdType PUBACK does not
// carry (it may be a short name), so any value is accepted.

func (m *Puback) parse(b []byte) fieldErr {
	r := reader{b: b}
	m.TopicID = r.u16("TopicId")
	m.MsgID = r.u16("MsgId")
	m.ReturnCode = ReturnCode(r.u8("ReturnCode"))
	if fe := r.end(); fe.err != nil {
		return fe
	}
	return checkReturnCode(m.ReturnCode, 4)
}

// AppendBinary appends the PUBACK message to b.
func (m *Puback) AppendBinary(b []byte) ([]byte, error) {
	if fe := checkReturnCode(m.ReturnCode, 4); fe.err != nil {
		return b, fe.encodeError(TypePuback)
	}
	return appendIDsCode(b, TypePuback, m.TopicID, m.MsgID, m.ReturnCode), nil
}

// ---- PUBREC, PUBREL, PUBCOMP, UNSUBACK: MsgId only.
// [MQTT-SN 1.2 §5.4.14, §5.4.18]

// AppendBinary appends the PUBREC message to b.
func (m *Pubrec) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypePubrec, byte(m.MsgID>>8), byte(m.MsgID)), nil
}

// AppendBinary appends the PUBREL message to b.
func (m *Pubrel) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypePubrel, byte(m.MsgID>>8), byte(m.MsgID)), nil
}

// AppendBinary appends the PUBCOMP message to b.
func (m *Pubcomp) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypePubcomp, byte(m.MsgID>>8), byte(m.MsgID)), nil
}

// AppendBinary appends the UNSUBACK message to b.
func (m *Unsuback) AppendBinary(b []byte) ([]byte, error) {
	return appendFixed(b, TypeUnsuback, byte(m.MsgID>>8), byte(m.MsgID)), nil
}
