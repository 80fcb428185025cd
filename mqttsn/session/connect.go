package session

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// onPacket dispatches a message from the client.
func (s *Session) onPacket(now time.Time, p *mqttsn.Packet, out []Effect) []Effect {
	// [MQTT-SN 1.2 §6.11, §6.14] any message from the client restarts
	// the keep-alive or sleep supervision.
	s.lastRx = now
	switch p.Type {
	case mqttsn.TypeConnect:
		return s.onConnect(now, &p.Connect, out)
	case mqttsn.TypeDisconnect:
		return s.onDisconnect(now, &p.Disconnect, out)
	case mqttsn.TypePublish:
		if p.Publish.Flags.QoS == mqttsn.QoSMinus1 {
			// [MQTT-SN 1.2 §6.8] QoS -1 needs no connection.
			return s.onPublishMinus1(&p.Publish, out)
		}
	}
	switch s.state {
	case Disconnected, Lost:
		// [MQTT-SN 1.2 §6.12] "the gateway ... cannot identify the client
		// to which a received message belongs": an unsolicited DISCONNECT
		// makes the client CONNECT again.
		return sendType(out, mqttsn.TypeDisconnect)
	case Connecting:
		return s.onDialogue(now, p, out)
	}
	switch p.Type {
	case mqttsn.TypePingreq:
		return s.onPingreq(now, out)
	case mqttsn.TypeRegister:
		return s.onRegister(&p.Register, out)
	case mqttsn.TypeRegack:
		return s.onRegack(now, &p.Regack, out)
	case mqttsn.TypePublish:
		return s.onPublish(&p.Publish, out)
	case mqttsn.TypePuback:
		return s.onPuback(now, &p.Puback, out)
	case mqttsn.TypePubrec:
		return s.onPubrec(now, p.Pubrec.MsgID, out)
	case mqttsn.TypePubrel:
		return s.onPubrel(p.Pubrel.MsgID, out)
	case mqttsn.TypePubcomp:
		return s.onPubcomp(now, p.Pubcomp.MsgID, out)
	case mqttsn.TypeSubscribe:
		return s.onSubscribe(&p.Subscribe, out)
	case mqttsn.TypeUnsubscribe:
		return s.onUnsubscribe(&p.Unsubscribe, out)
	case mqttsn.TypeWillTopicUpd:
		return s.onWillTopicUpd(&p.WillTopicUpd, out)
	case mqttsn.TypeWillMsgUpd:
		return s.onWillMsgUpd(&p.WillMsgUpd, out)
	case mqttsn.TypeWillMsg:
		if s.state == Active {
			// The client retransmits WILLMSG when our CONNACK was lost.
			out, p := send(out, mqttsn.TypeConnack)
			p.Connack.ReturnCode = mqttsn.Accepted
			return out
		}
	}
	// Anything else (PINGRESP, a WILLTOPIC out of turn, gateway-only
	// messages) is ignored.
	return out
}

// onConnect starts a connection, from any state. [MQTT-SN 1.2 §6.2, §6.3,
// §6.14 "From the asleep or awake state a client can return ... to the
// active state by sending a CONNECT message"]
func (s *Session) onConnect(now time.Time, c *mqttsn.Connect, out []Effect) []Effect {
	// [MQTT-SN 1.2 §5.3.1] ClientId: 1 to 23 characters.
	if len(c.ClientID) < 1 || len(c.ClientID) > mqttsn.MaxClientIDLen ||
		c.ProtocolID != mqttsn.ProtocolID {
		out, p := send(out, mqttsn.TypeConnack)
		p.Connack.ReturnCode = mqttsn.RejectedNotSupported
		return out
	}
	retry := s.state == Connecting && s.up == upOpening
	if s.clientID != string(c.ClientID) {
		if s.clientID != "" {
			// Another client on this session: nothing of the old one
			// may leak into it.
			s.discard()
			out = s.closeUpstream(out)
		}
		s.clientID = string(c.ClientID)
	}
	s.pause()
	s.awakeLeft = 0
	s.keepAlive = time.Duration(c.Duration) * time.Second
	s.clean = c.Flags.CleanSession
	if s.clean {
		// [MQTT-SN 1.2 §6.3] "The GW will delete all subscriptions and
		// Will data related to the client"; buffered messages and
		// registrations belong to the old session too.
		s.discard()
		if !retry {
			out = s.closeUpstream(out)
		}
	} else if s.up == upOpen && s.upClean {
		// The broker-side session was a clean one: reopen it persistent.
		out = s.closeUpstream(out)
	}
	out = s.setState(Connecting, out)
	if c.Flags.Will {
		// [MQTT-SN 1.2 §6.2] Will flag: prompt for topic and message.
		s.phase = phaseWillTopic
		s.newWill = will{}
		return sendType(out, mqttsn.TypeWillTopicReq)
	}
	s.phase = phaseUpstream
	return s.openUpstream(now, out)
}

// onDialogue handles messages while Connecting: the will dialogue
// [MQTT-SN 1.2 §6.2, Fig. 3]. Other messages are ignored until CONNACK.
// The gateway does not retransmit WILLTOPICREQ/WILLMSGREQ: the client
// supervises the exchange and retransmits CONNECT or WILLTOPIC
// [MQTT-SN 1.2 §6.13], which are answered again here.
func (s *Session) onDialogue(now time.Time, p *mqttsn.Packet, out []Effect) []Effect {
	switch {
	case p.Type == mqttsn.TypeWillTopic && (s.phase == phaseWillTopic || s.phase == phaseWillMsg):
		wt := &p.WillTopic
		if wt.Empty() {
			// [MQTT-SN 1.2 §6.3] an empty WILLTOPIC deletes the will.
			s.will = will{}
			s.phase = phaseUpstream
			return s.openUpstream(now, out)
		}
		if mqttsn.ValidateTopicName(string(wt.Topic)) != nil {
			out, c := send(out, mqttsn.TypeConnack)
			c.Connack.ReturnCode = mqttsn.RejectedInvalidTopicID
			return s.abandonConnect(out)
		}
		s.newWill = will{
			Topic:  string(wt.Topic),
			QoS:    clampQoS(wt.Flags.QoS),
			Retain: wt.Flags.Retain,
		}
		s.phase = phaseWillMsg
		return sendType(out, mqttsn.TypeWillMsgReq)
	case p.Type == mqttsn.TypeWillMsg && s.phase == phaseWillMsg:
		// [MQTT-SN 1.2 §6.3] "The newly received Will data will overwrite
		// the stored Will data."
		s.newWill.Msg = append([]byte(nil), p.WillMsg.Msg...)
		s.will = s.newWill
		s.newWill = will{}
		s.phase = phaseUpstream
		return s.openUpstream(now, out)
	}
	return out
}

// openUpstream makes sure the client's upstream session is open, then
// accepts the connection. [MQTT-SN 1.2 §6.2] A CONNACK is sent only once
// the upstream session is up.
func (s *Session) openUpstream(now time.Time, out []Effect) []Effect {
	switch s.up {
	case upOpen:
		return s.accept(now, out)
	case upOpening:
		s.upWant, s.park = true, false
		return out
	}
	s.up, s.upWant, s.upClean = upOpening, true, s.clean
	return append(out, Effect{
		Kind:         EffOpenUpstream,
		ClientID:     s.clientID,
		CleanSession: s.clean,
		KeepAlive:    s.keepAlive,
	})
}

func (s *Session) onUpstreamOpened(now time.Time, err error, out []Effect) []Effect {
	if s.up != upOpening {
		return out // stale answer
	}
	waiting := s.upWant && s.state == Connecting && s.phase == phaseUpstream
	if err != nil {
		s.up = upClosed
		s.forgetUpstreamRequests()
		if !waiting {
			return out
		}
		// [MQTT-SN 1.2 §6.2] "In case the GW could not accept the
		// connection request (e.g. because of congestion ...)"
		s.phase = phaseNone
		out, p := send(out, mqttsn.TypeConnack)
		p.Connack.ReturnCode = mqttsn.RejectedCongestion
		out = s.setState(Disconnected, out)
		if s.clean {
			s.discard()
		}
		return out
	}
	s.up = upOpen
	if !s.upWant {
		return s.closeUpstream(out)
	}
	if waiting && s.clean && !s.upClean {
		// A clean CONNECT came while a persistent upstream session was
		// opening (a restored one): discard it and open a clean one.
		out = s.closeUpstream(out)
		return s.openUpstream(now, out)
	}
	if s.resub {
		out = s.resubscribe(out)
	}
	if waiting {
		return s.accept(now, out)
	}
	if s.park {
		// A restored Disconnected or Lost persistent session: its
		// broker-side session is back, with its subscriptions, and
		// keeps what arrives until the client reconnects.
		s.park = false
		return s.closeUpstream(out)
	}
	return out // still in the will dialogue: accept when it ends
}

// accept sends CONNACK, makes the client active and resumes deliveries
// (buffered messages of a persistent or sleeping session included).
func (s *Session) accept(now time.Time, out []Effect) []Effect {
	s.phase = phaseNone
	s.lastRx = now
	out, p := send(out, mqttsn.TypeConnack)
	p.Connack.ReturnCode = mqttsn.Accepted
	out = s.setState(Active, out)
	return s.pump(now, out)
}

// onDisconnect: without a duration the client disconnects, with one it
// goes to sleep. [MQTT-SN 1.2 §6.12, §6.14]
func (s *Session) onDisconnect(now time.Time, d *mqttsn.Disconnect, out []Effect) []Effect {
	out = sendType(out, mqttsn.TypeDisconnect) // acknowledged without a Duration
	switch s.state {
	case Disconnected, Lost:
		return out // a retransmitted DISCONNECT: ack again
	case Active, Asleep, Awake:
		if d.HasDuration && d.Duration > 0 {
			// [MQTT-SN 1.2 §6.14] "The server/gateway acknowledges that
			// message with a DISCONNECT message and considers the client
			// for being in asleep state"; a new duration while asleep
			// replaces the old one.
			s.sleep = time.Duration(d.Duration) * time.Second
			s.pause()
			s.awakeLeft = 0
			s.lastRx = now
			return s.setState(Asleep, out)
		}
	}
	// [MQTT-SN 1.2 §6.14] "disconnected state when the server/gateway
	// receives a DISCONNECT without a duration field". No will.
	s.phase = phaseNone
	s.pause()
	s.awakeLeft = 0
	out = s.releaseUpstream(out)
	out = s.setState(Disconnected, out)
	if s.clean {
		s.discard()
	}
	return out
}

// onPingreq: keep-alive while active, wake-up while asleep.
// [MQTT-SN 1.2 §6.11, §6.14]
func (s *Session) onPingreq(now time.Time, out []Effect) []Effect {
	switch s.state {
	case Active:
		return sendType(out, mqttsn.TypePingresp)
	case Asleep:
		if s.resub && s.up == upClosed {
			// Restored, but the upstream session could not be opened
			// then: try again.
			out = s.reopen(out)
		}
		// [MQTT-SN 1.2 §6.14] "The sleep timer is stopped when the
		// server/gateway receives a PINGREQ from the client ... The
		// identified client is then in the awake state. If the
		// server/gateway has buffered messages for the client, it will
		// sends these messages to the client."
		out = s.setState(Awake, out)
		s.awakeLeft = s.queue.len()
		return s.pump(now, out)
	}
	// Awake: a retransmitted PINGREQ. A delivery in flight has its own
	// retry timer, and PINGRESP follows the last buffered message. With
	// nothing in flight the deliveries are held for a SUBACK from the
	// upstream: answer now rather than leave the client waiting; the
	// rest of the buffer waits for the next wake-up.
	if s.state == Awake && (!s.cur.active || s.cur.paused) {
		return s.finishAwake(now, out)
	}
	return out
}

// finishAwake ends an awake period. [MQTT-SN 1.2 §6.14] "The transfer of
// messages to the client is closed by the server/gateway by means of a
// PINGRESP message, i.e. the server/gateway will consider the client as
// asleep and restart the sleep timer again after having sent the PINGRESP"
func (s *Session) finishAwake(now time.Time, out []Effect) []Effect {
	out = sendType(out, mqttsn.TypePingresp)
	s.awakeLeft = 0
	s.lastRx = now
	return s.setState(Asleep, out)
}

// onWillTopicUpd replaces or deletes the will topic. [MQTT-SN 1.2 §6.4]
func (s *Session) onWillTopicUpd(u *mqttsn.WillTopicUpd, out []Effect) []Effect {
	rc := mqttsn.Accepted
	switch {
	case u.Empty():
		// "an empty WILLTOPICUPD message will delete both the Will topic
		// and Will message stored at the gateway"
		s.will = will{}
	case mqttsn.ValidateTopicName(string(u.Topic)) != nil:
		rc = mqttsn.RejectedInvalidTopicID
	default:
		s.will.Topic = string(u.Topic)
		s.will.QoS = clampQoS(u.Flags.QoS)
		s.will.Retain = u.Flags.Retain
	}
	out, p := send(out, mqttsn.TypeWillTopicResp)
	p.WillTopicResp.ReturnCode = rc
	return out
}

// onWillMsgUpd replaces the will message. [MQTT-SN 1.2 §6.4]
func (s *Session) onWillMsgUpd(u *mqttsn.WillMsgUpd, out []Effect) []Effect {
	s.will.Msg = append(s.will.Msg[:0:0], u.Msg...)
	out, p := send(out, mqttsn.TypeWillMsgResp)
	p.WillMsgResp.ReturnCode = mqttsn.Accepted
	return out
}
