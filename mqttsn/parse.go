package mqttsn

// Parse decodes the MQTT-SN message in the datagram b into p. It sets
// p.Type and the field of p that Type selects, overwriting all of that
// field's members, and leaves p's other fields untouched. It allocates
// nothing on success: every []byte field of the result ALIASES b.
//
// The whole datagram must be one message: a Length field that disagrees
// with len(b) is an error (ErrTruncated or ErrTrailing), except for a
// Forwarder Encapsulation frame, whose Length covers only its own header
// and which carries the inner message in [Encapsulated.Message] for
// another call to Parse. [MQTT-SN 1.2 §5.2.1, §5.5]
//
// On error Parse returns a *[ParseError] wrapping one of the Err*
// sentinels. When the message was read completely and only a value rule
// failed (ErrTopicID, ErrQoS, ErrClientID, ErrProtocolID, ErrReserved on
// a ReturnCode or TopicIdType, ErrEmptyTopic), p.Type and its fields are
// set as read, so a gateway can answer the sender (for instance a PUBACK
// "rejected: invalid topic id"); otherwise p's contents are unspecified.
// Parse never panics.
func Parse(b []byte, p *Packet) error {
	n, hdr, fe := messageLength(b)
	if fe.err != nil {
		return lengthError(b, hdr, fe)
	}
	t := MsgType(b[hdr])
	if !t.Valid() {
		return &ParseError{Type: t, Field: "MsgType", Off: hdr, Err: ErrReserved}
	}
	if n > len(b) {
		return &ParseError{Type: t, Field: "Length", Off: 0, Err: ErrTruncated}
	}
	if n < len(b) && t != TypeEncapsulated {
		return &ParseError{Type: t, Field: "Length", Off: n, Err: ErrTrailing}
	}
	p.Type = t
	base := hdr + 1
	if fe := p.parseBody(t, b[base:n], b[n:]); fe.err != nil {
		return fe.parseError(t, base)
	}
	return nil
}

// parseBody dispatches on the message type; body is the variable part,
// after is what follows the Length (non-empty only for encapsulation).
func (p *Packet) parseBody(t MsgType, body, after []byte) fieldErr {
	switch t {
	case TypeAdvertise:
		return p.Advertise.parse(body)
	case TypeSearchGW:
		return p.SearchGW.parse(body)
	case TypeGWInfo:
		return p.GWInfo.parse(body)
	case TypeConnect:
		return p.Connect.parse(body)
	case TypeConnack:
		return p.Connack.parse(body)
	case TypeWillTopicReq, TypeWillMsgReq, TypePingresp:
		return parseEmpty(body)
	case TypeWillTopic:
		return p.WillTopic.parse(body)
	case TypeWillMsg:
		return p.WillMsg.parse(body)
	case TypeRegister:
		return p.Register.parse(body)
	case TypeRegack:
		return p.Regack.parse(body)
	case TypePublish:
		return p.Publish.parse(body)
	case TypePuback:
		return p.Puback.parse(body)
	case TypePubrec:
		return parseMsgID(body, &p.Pubrec.MsgID)
	case TypePubrel:
		return parseMsgID(body, &p.Pubrel.MsgID)
	case TypePubcomp:
		return parseMsgID(body, &p.Pubcomp.MsgID)
	case TypeSubscribe:
		return p.Subscribe.parse(body)
	case TypeSuback:
		return p.Suback.parse(body)
	case TypeUnsubscribe:
		return p.Unsubscribe.parse(body)
	case TypeUnsuback:
		return parseMsgID(body, &p.Unsuback.MsgID)
	case TypePingreq:
		return p.Pingreq.parse(body)
	case TypeDisconnect:
		return p.Disconnect.parse(body)
	case TypeWillTopicUpd:
		return p.WillTopicUpd.parse(body)
	case TypeWillMsgUpd:
		return p.WillMsgUpd.parse(body)
	case TypeWillTopicResp:
		return parseReturnCode(body, &p.WillTopicResp.ReturnCode)
	case TypeWillMsgResp:
		return parseReturnCode(body, &p.WillMsgResp.ReturnCode)
	case TypeEncapsulated:
		return p.Encapsulated.parse(body, after)
	}
	return fieldErr{"MsgType", -1, ErrReserved} // unreachable: Parse checked t.Valid
}

// MessageLength reads the Length field at the start of b and returns the
// total length n of the message it declares (header included) and the
// size hdr of the Length field (1, or 3 for the 0x01 + uint16 form). It
// checks that b holds the Length field and that n can hold the header
// (n >= hdr+1) but not that b holds n octets; with a valid result, the
// MsgType octet is b[hdr] if len(b) > hdr. [MQTT-SN 1.2 §5.2.1]
//
// A stream transport can use it to frame messages; [Parse] uses it first.
// Errors are *[ParseError] wrapping ErrTruncated or ErrLength.
func MessageLength(b []byte) (n, hdr int, err error) {
	n, hdr, fe := messageLength(b)
	if fe.err != nil {
		return 0, 0, lengthError(b, hdr, fe)
	}
	return n, hdr, nil
}

func lengthError(b []byte, hdr int, fe fieldErr) error {
	t := typeUnknown
	if fe.field != "MsgType" && len(b) > hdr {
		t = MsgType(b[hdr])
	}
	return &ParseError{Type: t, Field: fe.field, Off: fe.off, Err: fe.err}
}

// messageLength is MessageLength without the allocation of an error.
func messageLength(b []byte) (n, hdr int, fe fieldErr) {
	if len(b) == 0 {
		return 0, 1, fieldErr{"Length", 0, ErrTruncated}
	}
	n, hdr = int(b[0]), 1
	if b[0] == 0x01 {
		if len(b) < 3 {
			return 0, 3, fieldErr{"Length", 0, ErrTruncated}
		}
		n, hdr = int(b[1])<<8|int(b[2]), 3
	}
	if n < hdr+1 {
		return 0, hdr, fieldErr{"Length", 0, ErrLength}
	}
	if len(b) <= hdr {
		return 0, hdr, fieldErr{"MsgType", hdr, ErrTruncated}
	}
	return n, hdr, fieldErr{}
}

// reader reads the fields of a variable part in order. The first failure
// is kept in fe and makes every later read return a zero value, so a
// parse method reads all its fields and checks once.
type reader struct {
	b   []byte
	off int
	fe  fieldErr
}

func (r *reader) fail(field string, err error) {
	if r.fe.err == nil {
		r.fe = fieldErr{field, r.off, err}
	}
}

func (r *reader) u8(field string) uint8 {
	if r.fe.err != nil || r.off >= len(r.b) {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16(field string) uint16 {
	if r.fe.err != nil || len(r.b)-r.off < 2 {
		r.fail(field, ErrTruncated)
		return 0
	}
	v := uint16(r.b[r.off])<<8 | uint16(r.b[r.off+1])
	r.off += 2
	return v
}

// rest returns the remaining octets, nil when there are none.
func (r *reader) rest() []byte {
	if r.fe.err != nil || r.off >= len(r.b) {
		return nil
	}
	v := r.b[r.off:]
	r.off = len(r.b)
	return v
}

// end reports octets after the last field of a fixed-size message; Off
// is that of the first extra octet.
func (r *reader) end() fieldErr {
	if r.fe.err == nil && r.off < len(r.b) {
		r.fe = fieldErr{"Length", r.off, ErrTrailing}
	}
	return r.fe
}

func parseEmpty(b []byte) fieldErr {
	r := reader{b: b}
	return r.end()
}

func parseMsgID(b []byte, id *uint16) fieldErr {
	r := reader{b: b}
	*id = r.u16("MsgId")
	return r.end()
}

func parseReturnCode(b []byte, rc *ReturnCode) fieldErr {
	r := reader{b: b}
	*rc = ReturnCode(r.u8("ReturnCode"))
	if fe := r.end(); fe.err != nil {
		return fe
	}
	return checkReturnCode(*rc, 0)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
