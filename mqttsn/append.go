package mqttsn

// AppendBinary appends the wire form of the message p.Type selects to b
// and returns the extended buffer. It implements encoding.BinaryAppender.
// It checks the same rules as [Parse] first and, on error, returns b
// unchanged and an *[EncodeError]. The 1-octet Length form is used
// whenever the message fits in 255 octets. [MQTT-SN 1.2 §5.2.1]
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	switch p.Type {
	case TypeAdvertise:
		return p.Advertise.AppendBinary(b)
	case TypeSearchGW:
		return p.SearchGW.AppendBinary(b)
	case TypeGWInfo:
		return p.GWInfo.AppendBinary(b)
	case TypeConnect:
		return p.Connect.AppendBinary(b)
	case TypeConnack:
		return p.Connack.AppendBinary(b)
	case TypeWillTopicReq:
		return p.WillTopicReq.AppendBinary(b)
	case TypeWillTopic:
		return p.WillTopic.AppendBinary(b)
	case TypeWillMsgReq:
		return p.WillMsgReq.AppendBinary(b)
	case TypeWillMsg:
		return p.WillMsg.AppendBinary(b)
	case TypeRegister:
		return p.Register.AppendBinary(b)
	case TypeRegack:
		return p.Regack.AppendBinary(b)
	case TypePublish:
		return p.Publish.AppendBinary(b)
	case TypePuback:
		return p.Puback.AppendBinary(b)
	case TypePubrec:
		return p.Pubrec.AppendBinary(b)
	case TypePubrel:
		return p.Pubrel.AppendBinary(b)
	case TypePubcomp:
		return p.Pubcomp.AppendBinary(b)
	case TypeSubscribe:
		return p.Subscribe.AppendBinary(b)
	case TypeSuback:
		return p.Suback.AppendBinary(b)
	case TypeUnsubscribe:
		return p.Unsubscribe.AppendBinary(b)
	case TypeUnsuback:
		return p.Unsuback.AppendBinary(b)
	case TypePingreq:
		return p.Pingreq.AppendBinary(b)
	case TypePingresp:
		return p.Pingresp.AppendBinary(b)
	case TypeDisconnect:
		return p.Disconnect.AppendBinary(b)
	case TypeWillTopicUpd:
		return p.WillTopicUpd.AppendBinary(b)
	case TypeWillMsgUpd:
		return p.WillMsgUpd.AppendBinary(b)
	case TypeWillTopicResp:
		return p.WillTopicResp.AppendBinary(b)
	case TypeWillMsgResp:
		return p.WillMsgResp.AppendBinary(b)
	case TypeEncapsulated:
		return p.Encapsulated.AppendBinary(b)
	}
	return b, &EncodeError{Type: p.Type, Field: "MsgType", Err: ErrReserved}
}

// appendHeader appends the Length and MsgType fields of a message whose
// variable part is n octets long: the 1-octet Length when the whole
// message fits in 255 octets, else 0x01 and a uint16. [MQTT-SN 1.2 §5.2.1]
func appendHeader(b []byte, t MsgType, n int) ([]byte, error) {
	if total := 2 + n; total <= 0xFF {
		return append(b, byte(total), byte(t)), nil
	}
	total := 4 + n
	if total > 0xFFFF {
		return b, &EncodeError{Type: t, Field: "Length", Err: ErrTooLong}
	}
	return append(b, 0x01, byte(total>>8), byte(total), byte(t)), nil
}

func appendUint16(b []byte, v uint16) []byte {
	return append(b, byte(v>>8), byte(v))
}

// appendFixed appends a message whose variable part is at most a few
// octets, so it cannot be too long.
func appendFixed(b []byte, t MsgType, body ...byte) []byte {
	b = append(b, byte(2+len(body)), byte(t))
	return append(b, body...)
}
