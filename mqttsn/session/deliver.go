package session

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// onMessage queues a broker message for the client and delivers it when
// the client can take it. [MQTT-SN 1.2 §6.10, §6.14]
func (s *Session) onMessage(now time.Time, ev *Event, out []Effect) []Effect {
	gone := s.state == Disconnected || s.state == Lost
	if gone && !s.Persistent() {
		s.stats.Discarded++
		return out
	}
	m := message{Topic: ev.Topic, Payload: ev.Payload, QoS: s.capQoS(ev.Topic, ev.QoS), Retain: ev.Retain}
	limit := s.cfg.MaxQueue
	if gone && m.QoS == mqttsn.QoS0 && !s.cfg.BufferQoS0 {
		s.stats.Discarded++
		return out
	}
	if s.state == Asleep || s.state == Awake {
		// [MQTT-SN 1.2 §6.14] "During the asleep state, all messages that
		// need to be sent to the client are buffered at the
		// server/gateway." Messages arriving while awake wait for the
		// next wake-up, so that every awake period ends.
		if m.QoS == mqttsn.QoS0 && !s.cfg.BufferQoS0 {
			s.stats.NotBuffered++
			return out
		}
		limit = s.cfg.SleepBuffer
	}
	for s.queue.len() >= limit {
		s.queue.popFront()
		s.stats.Overflow++
		if s.awakeLeft > 0 {
			s.awakeLeft--
		}
	}
	s.queue.pushBack(m)
	return s.pump(now, out)
}

// capQoS caps a message's QoS at the highest QoS granted to the client's
// subscriptions (or requested by its pending ones) that match topic. A
// message no known subscription matches keeps the broker's QoS: the
// broker already applied the grant of a subscription this session does
// not know of. [MQTT 3.1.1 §3.8.4]
func (s *Session) capQoS(topic string, q mqttsn.QoS) mqttsn.QoS {
	q = clampQoS(q)
	top, found := mqttsn.QoS0, false
	for f, g := range s.subs {
		if g > top || !found {
			if mqttsn.MatchTopic(f, topic) {
				top, found = max(top, g), true
			}
		}
	}
	for _, ps := range s.subReq {
		if mqttsn.MatchTopic(ps.Filter, topic) {
			top, found = max(top, ps.QoS), true
		}
	}
	if !found {
		return q
	}
	return min(q, top)
}

// pump starts deliveries until one is in flight or nothing is left.
// There is one ordered queue: a QoS 0 message does not overtake a QoS 1
// or 2 one in flight, and at most one REGISTER and one PUBLISH awaiting
// an answer are outstanding. [MQTT-SN 1.2 §6.5, §6.6]
func (s *Session) pump(now time.Time, out []Effect) []Effect {
	for s.state == Active || s.state == Awake {
		if len(s.subReq) > 0 {
			// Hold deliveries until the SUBACK has told the client the
			// topic id they carry (retained messages come right away).
			return out
		}
		if s.cur.active {
			if s.cur.paused {
				s.cur.paused = false
				s.cur.tries = 0
				out = s.transmit(now, true, out)
			}
			if s.cur.active {
				return out
			}
			continue
		}
		if s.state == Awake && s.awakeLeft == 0 {
			return s.finishAwake(now, out)
		}
		m, ok := s.queue.popFront()
		if !ok {
			return out
		}
		if s.awakeLeft > 0 {
			s.awakeLeft--
		}
		out = s.start(now, m, out)
	}
	return out
}

// topicFor picks the topic id a PUBLISH of topic carries: the client's
// predefined id, else its registered id (the one a SUBACK or REGISTER
// gave it), else the short name of a two-character topic.
// known is false when a REGISTER must come first. [MQTT-SN 1.2 §6.7, §6.10]
func (s *Session) topicFor(topic string) (id uint16, t mqttsn.TopicIDType, known bool) {
	if s.cfg.Predefined != nil {
		if id, ok := s.cfg.Predefined.ID(topic); ok {
			return id, mqttsn.TopicIDPredefined, true
		}
	}
	if id, ok := s.reg.lookupString(topic); ok {
		return id, mqttsn.TopicIDNormal, true
	}
	if id, ok := mqttsn.ShortTopicID(topic); ok {
		return id, mqttsn.TopicIDShort, true
	}
	return 0, mqttsn.TopicIDNormal, false
}

// lengths of REGISTER and PUBLISH, for the MaxPacket check. [MQTT-SN 1.2 §5.2.1]
func msgLen(body int) int {
	if n := 2 + body; n <= 255 {
		return n
	}
	return 4 + body
}

// start begins the delivery of m: REGISTER first if the client has no id
// for its topic, else the PUBLISH.
func (s *Session) start(now time.Time, m message, out []Effect) []Effect {
	if _, no := s.rejected[m.Topic]; no {
		// [MQTT-SN 1.2 §6.10] a rejected REGISTER "corresponds to an
		// unsubscribe to the topic name".
		s.stats.Rejected++
		return out
	}
	if n := msgLen(5 + len(m.Payload)); n > s.cfg.MaxPacket {
		// [MQTT-SN 1.2 §6.10] "the gateway silently aborts the publish
		// procedure"
		s.noteTooLarge(m.Topic, n)
		return out
	}
	id, t, known := s.topicFor(m.Topic)
	s.cur = delivery{active: true, msg: m, topicID: id, idType: t}
	if known {
		return s.publish(now, out)
	}
	if n := msgLen(4 + len(m.Topic)); n > s.cfg.MaxPacket {
		s.cur = delivery{}
		s.noteTooLarge(m.Topic, n)
		return out
	}
	var rc mqttsn.ReturnCode
	if id, ok := s.reg.lookupString(m.Topic); ok {
		s.cur.topicID = id
	} else if s.reg.len() >= s.cfg.MaxTopics {
		rc = mqttsn.RejectedCongestion
	} else if s.cur.topicID, known = s.reg.add(m.Topic, s.cfg.Predefined); !known {
		rc = mqttsn.RejectedCongestion
	}
	if rc != mqttsn.Accepted {
		s.cur = delivery{}
		s.stats.Rejected++
		return out
	}
	// [MQTT-SN 1.2 §6.10] "Preceding the PUBLISH message the GW may send a
	// REGISTER message ... The GW will wait for the REGACK message before
	// it sends the PUBLISH message to the client."
	s.cur.stage = stRegister
	s.cur.regID = s.nextMsgID()
	return s.transmit(now, false, out)
}

// publish sends the PUBLISH of the current delivery. A QoS 0 one needs
// no answer and ends the delivery.
func (s *Session) publish(now time.Time, out []Effect) []Effect {
	c := &s.cur
	switch c.msg.QoS {
	case mqttsn.QoS0:
		c.stage, c.msgID = 0, 0
	case mqttsn.QoS1:
		c.stage, c.msgID = stPuback, s.nextMsgID()
	default:
		c.stage, c.msgID = stPubrec, s.nextMsgID()
	}
	c.tries = 0
	out = s.transmit(now, false, out)
	if c.msg.QoS == mqttsn.QoS0 {
		s.cur = delivery{}
	}
	return out
}

// transmit sends (or re-sends) the message the current delivery waits on.
// dup marks a re-sent PUBLISH. [MQTT-SN 1.2 §5.3.4: "DUP: set to 1 if
// message is retransmitted"]
func (s *Session) transmit(now time.Time, dup bool, out []Effect) []Effect {
	c := &s.cur
	c.sentAt = now
	switch {
	case c.stage == stRegister:
		out, p := send(out, mqttsn.TypeRegister)
		p.Register = mqttsn.Register{TopicID: c.topicID, MsgID: c.regID, TopicName: []byte(c.msg.Topic)}
		return out
	case c.stage == stPubcomp:
		out, p := send(out, mqttsn.TypePubrel)
		p.Pubrel.MsgID = c.msgID
		return out
	}
	out, p := send(out, mqttsn.TypePublish)
	p.Publish = mqttsn.Publish{
		Flags: mqttsn.Flags{
			DUP: dup && c.msg.QoS > mqttsn.QoS0, QoS: c.msg.QoS,
			Retain: c.msg.Retain, TopicIDType: c.idType,
		},
		TopicID: c.topicID,
		MsgID:   c.msgID,
		Data:    c.msg.Payload,
	}
	return out
}

// retry re-sends the message in flight after T_retry, up to N_retry
// times; then the client is lost. [MQTT-SN 1.2 §6.13]
func (s *Session) retry(now time.Time, out []Effect) []Effect {
	c := &s.cur
	if !c.active || c.paused || now.Before(c.sentAt.Add(s.cfg.RetryInterval)) {
		return out
	}
	if c.tries >= s.cfg.RetryCount {
		return s.lose(out)
	}
	c.tries++
	return s.transmit(now, true, out)
}

// pause stops the delivery in flight: it goes back to the front of the
// queue in effect, and is re-sent (PUBLISH with DUP, same MsgId) when the
// client is active or awake again. No retries run meanwhile.
// [MQTT-SN 1.2 §6.14]
func (s *Session) pause() {
	if s.cur.active {
		s.cur.paused = true
	}
}

// done ends the current delivery and starts the next.
func (s *Session) done(now time.Time, out []Effect) []Effect {
	s.cur = delivery{}
	return s.pump(now, out)
}

// onRegack: the client accepted or rejected the gateway's REGISTER.
// [MQTT-SN 1.2 §6.10]
func (s *Session) onRegack(now time.Time, r *mqttsn.Regack, out []Effect) []Effect {
	c := &s.cur
	if !c.active || c.paused || c.stage != stRegister || r.MsgID != c.regID {
		return out
	}
	if r.ReturnCode == mqttsn.Accepted {
		out = s.publish(now, out)
		return s.pump(now, out) // a QoS 0 PUBLISH is done at once
	}
	// "The client could reject the REGISTER message ... this corresponds
	// to an unsubscribe to the topic name indicated in the REGISTER
	// message." Congestion is temporary: only this message is dropped.
	s.reg.removeID(c.topicID)
	if r.ReturnCode != mqttsn.RejectedCongestion {
		if s.rejected == nil {
			s.rejected = make(map[string]struct{})
		}
		s.rejected[c.msg.Topic] = struct{}{}
	}
	s.stats.Rejected++
	return s.done(now, out)
}

// onPuback: the client acknowledged, or rejected, a gateway PUBLISH.
// [MQTT-SN 1.2 §6.10] "If the client receives a PUBLISH message with an
// unknown topic id value, it shall respond with a PUBACK message with the
// ReturnCode=Rejected: invalid Topic ID. This will trigger the gateway to
// delete or correct the wrong topic id assignment."
func (s *Session) onPuback(now time.Time, a *mqttsn.Puback, out []Effect) []Effect {
	c := &s.cur
	match := c.active && !c.paused && (c.stage == stPuback || c.stage == stPubrec) && a.MsgID == c.msgID
	if a.ReturnCode == mqttsn.RejectedInvalidTopicID && (!match || c.idType == mqttsn.TopicIDNormal) {
		// Forget the registration: the next message on the topic
		// REGISTERs it again.
		s.reg.removeID(a.TopicID)
	}
	if !match {
		return out
	}
	if a.ReturnCode != mqttsn.Accepted {
		s.stats.Rejected++
	}
	return s.done(now, out)
}

func (s *Session) onPubrec(now time.Time, msgID uint16, out []Effect) []Effect {
	c := &s.cur
	if !c.active || c.paused || c.msgID != msgID || (c.stage != stPubrec && c.stage != stPubcomp) {
		return out
	}
	if c.stage == stPubrec {
		c.stage, c.tries = stPubcomp, 0
	}
	return s.transmit(now, false, out) // PUBREL (again, for a repeated PUBREC)
}

func (s *Session) onPubcomp(now time.Time, msgID uint16, out []Effect) []Effect {
	c := &s.cur
	if !c.active || c.paused || c.stage != stPubcomp || c.msgID != msgID {
		return out
	}
	return s.done(now, out)
}
