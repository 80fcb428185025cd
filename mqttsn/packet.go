package mqttsn

// MsgID returns the MsgId of the message p.Type selects, and false for
// the types that have none. Sessions use it to match acknowledgements and
// retransmissions without a switch of their own. [MQTT-SN 1.2 §5.3.7]
func (p *Packet) MsgID() (id uint16, ok bool) {
	switch p.Type {
	case TypeRegister:
		return p.Register.MsgID, true
	case TypeRegack:
		return p.Regack.MsgID, true
	case TypePublish:
		return p.Publish.MsgID, true
	case TypePuback:
		return p.Puback.MsgID, true
	case TypePubrec:
		return p.Pubrec.MsgID, true
	case TypePubrel:
		return p.Pubrel.MsgID, true
	case TypePubcomp:
		return p.Pubcomp.MsgID, true
	case TypeSubscribe:
		return p.Subscribe.MsgID, true
	case TypeSuback:
		return p.Suback.MsgID, true
	case TypeUnsubscribe:
		return p.Unsubscribe.MsgID, true
	case TypeUnsuback:
		return p.Unsuback.MsgID, true
	}
	return 0, false
}
