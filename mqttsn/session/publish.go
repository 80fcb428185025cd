package session

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// resolve returns the topic name a client's topic id stands for.
// [MQTT-SN 1.2 §6.5, §6.7]
func (s *Session) resolve(t mqttsn.TopicIDType, id uint16) (string, bool) {
	switch t {
	case mqttsn.TopicIDNormal:
		return s.reg.topic(id)
	case mqttsn.TopicIDPredefined:
		if s.cfg.Predefined == nil {
			return "", false
		}
		return s.cfg.Predefined.Topic(id)
	case mqttsn.TopicIDShort:
		name := mqttsn.ShortTopicName(id)
		return name, mqttsn.ValidateTopicName(name) == nil
	}
	return "", false
}

// onRegister assigns a topic id to a client's topic name.
// [MQTT-SN 1.2 §6.5]
func (s *Session) onRegister(r *mqttsn.Register, out []Effect) []Effect {
	id, rc := s.register(r.TopicName)
	out, p := send(out, mqttsn.TypeRegack)
	p.Regack = mqttsn.Regack{TopicID: id, MsgID: r.MsgID, ReturnCode: rc}
	return out
}

// register returns the id of name, assigning one if needed: the same
// name always gets the same id within a session.
func (s *Session) register(name []byte) (uint16, mqttsn.ReturnCode) {
	if id, ok := s.reg.lookup(name); ok {
		return id, mqttsn.Accepted
	}
	str := string(name)
	if mqttsn.ValidateTopicName(str) != nil {
		return 0, mqttsn.RejectedInvalidTopicID
	}
	if s.reg.len() >= s.cfg.MaxTopics {
		return 0, mqttsn.RejectedCongestion
	}
	id, ok := s.reg.add(str, s.cfg.Predefined)
	if !ok {
		return 0, mqttsn.RejectedCongestion
	}
	return id, mqttsn.Accepted
}

// onPublish forwards a client PUBLISH at QoS 0, 1 or 2. [MQTT-SN 1.2 §6.6]
func (s *Session) onPublish(m *mqttsn.Publish, out []Effect) []Effect {
	topic, ok := s.resolve(m.Flags.TopicIDType, m.TopicID)
	if !ok {
		// [MQTT-SN 1.2 §6.6, §6.7] "Regardless of the requested QoS
		// level ... ReturnCode= Rejection: invalid topic Id"
		return puback(out, m.TopicID, m.MsgID, mqttsn.RejectedInvalidTopicID)
	}
	qos := clampQoS(m.Flags.QoS)
	if qos == mqttsn.QoS0 {
		// A non-zero MsgId on QoS 0 is tolerated and not echoed.
		return append(out, Effect{Kind: EffPublish, Topic: topic, Payload: m.Data, Retain: m.Flags.Retain})
	}
	if in, dup := s.inflight[m.MsgID]; dup {
		// Exactly once: a retransmitted PUBLISH of an exchange still
		// open is not forwarded again. [MQTT-SN 1.2 §6.6; MQTT 3.1.1 §4.3.3]
		if in.AwaitRel {
			var p *mqttsn.Packet
			out, p = send(out, mqttsn.TypePubrec)
			p.Pubrec.MsgID = m.MsgID
		}
		return out
	}
	if len(s.inflight) >= s.cfg.MaxInflight {
		return puback(out, m.TopicID, m.MsgID, mqttsn.RejectedCongestion)
	}
	if s.inflight == nil {
		s.inflight = make(map[uint16]inbound)
	}
	s.inflight[m.MsgID] = inbound{QoS: qos, TopicID: m.TopicID}
	return append(out, Effect{
		Kind: EffPublish, MsgID: m.MsgID, Topic: topic, Payload: m.Data,
		QoS: qos, Retain: m.Flags.Retain,
	})
}

// onPublishMinus1 forwards a QoS -1 PUBLISH at QoS 0. Only predefined
// ids and short names are allowed; anything else is dropped unanswered.
// [MQTT-SN 1.2 §6.8]
func (s *Session) onPublishMinus1(m *mqttsn.Publish, out []Effect) []Effect {
	if m.Flags.TopicIDType == mqttsn.TopicIDNormal {
		return out
	}
	topic, ok := s.resolve(m.Flags.TopicIDType, m.TopicID)
	if !ok {
		return out
	}
	return append(out, Effect{Kind: EffPublish, Topic: topic, Payload: m.Data, Retain: m.Flags.Retain})
}

// onPublished answers the client once the upstream acknowledged its QoS
// 1 or 2 PUBLISH. [MQTT-SN 1.2 §6.6]
func (s *Session) onPublished(msgID uint16, err error, out []Effect) []Effect {
	in, ok := s.inflight[msgID]
	if !ok || in.AwaitRel {
		return out
	}
	live := s.state != Disconnected && s.state != Lost
	if err != nil {
		delete(s.inflight, msgID)
		if live {
			out = puback(out, in.TopicID, msgID, mqttsn.RejectedCongestion)
		}
		return out
	}
	if in.QoS == mqttsn.QoS1 {
		delete(s.inflight, msgID)
		if live {
			out = puback(out, in.TopicID, msgID, mqttsn.Accepted)
		}
		return out
	}
	in.AwaitRel = true
	s.inflight[msgID] = in
	if live {
		out, p := send(out, mqttsn.TypePubrec)
		p.Pubrec.MsgID = msgID
		return out
	}
	return out
}

// onPubrel completes a client's QoS 2 exchange. A PUBREL for an unknown
// MsgId (a retransmission after our PUBCOMP was lost) is answered too.
func (s *Session) onPubrel(msgID uint16, out []Effect) []Effect {
	if in, ok := s.inflight[msgID]; ok {
		if !in.AwaitRel {
			return out // PUBREC not sent yet: out of order, ignore
		}
		delete(s.inflight, msgID)
	}
	out, p := send(out, mqttsn.TypePubcomp)
	p.Pubcomp.MsgID = msgID
	return out
}

func puback(out []Effect, topicID, msgID uint16, rc mqttsn.ReturnCode) []Effect {
	out, p := send(out, mqttsn.TypePuback)
	p.Puback = mqttsn.Puback{TopicID: topicID, MsgID: msgID, ReturnCode: rc}
	return out
}

// subscription resolves the filter of a SUBSCRIBE or UNSUBSCRIBE and the
// topic id its SUBACK carries. rc is not Accepted for an invalid filter
// or an unknown predefined id. [MQTT-SN 1.2 §6.9]
func (s *Session) subscription(t mqttsn.TopicIDType, name []byte, id uint16) (string, uint16, mqttsn.ReturnCode) {
	switch t {
	case mqttsn.TopicIDNormal:
		filter := string(name)
		if mqttsn.ValidateTopicFilter(filter) != nil {
			return "", 0, mqttsn.RejectedInvalidTopicID
		}
		return filter, 0, mqttsn.Accepted
	case mqttsn.TopicIDPredefined:
		if s.cfg.Predefined != nil {
			if filter, ok := s.cfg.Predefined.Topic(id); ok {
				return filter, id, mqttsn.Accepted
			}
		}
	case mqttsn.TopicIDShort:
		filter := mqttsn.ShortTopicName(id)
		if mqttsn.ValidateTopicFilter(filter) == nil {
			return filter, id, mqttsn.Accepted
		}
	}
	return "", 0, mqttsn.RejectedInvalidTopicID
}

// onSubscribe subscribes upstream; the SUBACK follows EvSubscribed.
// [MQTT-SN 1.2 §6.9]
func (s *Session) onSubscribe(m *mqttsn.Subscribe, out []Effect) []Effect {
	if _, dup := s.subReq[m.MsgID]; dup {
		return out // retransmitted while the upstream works on it
	}
	filter, topicID, rc := s.subscription(m.Flags.TopicIDType, m.TopicName, m.TopicID)
	if rc == mqttsn.Accepted && len(s.subReq) >= s.cfg.MaxInflight {
		rc = mqttsn.RejectedCongestion
	}
	if rc == mqttsn.Accepted && m.Flags.TopicIDType == mqttsn.TopicIDNormal && !mqttsn.IsWildcard(filter) {
		// A topic name: the SUBACK tells the client the id later
		// PUBLISHes will carry: its predefined id if it has one (never
		// equal to a registered id), else a registered one. A wildcard
		// filter gets 0x0000 and REGISTERs on delivery.
		var pre bool
		if s.cfg.Predefined != nil {
			topicID, pre = s.cfg.Predefined.ID(filter)
		}
		if !pre {
			topicID, rc = s.register(m.TopicName)
		}
	}
	if rc != mqttsn.Accepted {
		out, p := send(out, mqttsn.TypeSuback)
		p.Suback = mqttsn.Suback{MsgID: m.MsgID, ReturnCode: rc}
		return out
	}
	qos := clampQoS(m.Flags.QoS)
	if s.subReq == nil {
		s.subReq = make(map[uint16]pendingSub)
	}
	s.subReq[m.MsgID] = pendingSub{Filter: filter, QoS: qos, TopicID: topicID}
	// A new subscription revokes an earlier REGISTER rejection of the
	// topics it covers.
	for t := range s.rejected {
		if mqttsn.MatchTopic(filter, t) {
			delete(s.rejected, t)
		}
	}
	return append(out, Effect{Kind: EffSubscribe, MsgID: m.MsgID, Topic: filter, QoS: qos})
}

func (s *Session) onSubscribed(now time.Time, msgID uint16, granted mqttsn.QoS, err error, out []Effect) []Effect {
	if msgID == 0 && s.resubLeft > 0 {
		// The answer to a re-SUBSCRIBE after a restore (MsgID 0). The
		// stored grant stays.
		s.resubLeft--
		return out
	}
	ps, ok := s.subReq[msgID]
	if !ok {
		return out
	}
	delete(s.subReq, msgID)
	live := s.state != Disconnected && s.state != Lost
	if err != nil {
		if !live {
			return out
		}
		out, p := send(out, mqttsn.TypeSuback)
		p.Suback = mqttsn.Suback{MsgID: msgID, ReturnCode: mqttsn.RejectedCongestion}
		return s.pump(now, out)
	}
	granted = min(clampQoS(granted), ps.QoS)
	if s.subs == nil {
		s.subs = make(map[string]mqttsn.QoS)
	}
	s.subs[ps.Filter] = granted
	if !live {
		return out
	}
	out, p := send(out, mqttsn.TypeSuback)
	p.Suback = mqttsn.Suback{
		Flags: mqttsn.Flags{QoS: granted}, TopicID: ps.TopicID, MsgID: msgID, ReturnCode: mqttsn.Accepted,
	}
	return s.pump(now, out) // deliveries held back until this SUBACK
}

// onUnsubscribe unsubscribes upstream; UNSUBACK follows EvUnsubscribed.
// An invalid filter or unknown predefined id cannot be subscribed, so it
// is acknowledged at once. [MQTT-SN 1.2 §6.9]
func (s *Session) onUnsubscribe(m *mqttsn.Unsubscribe, out []Effect) []Effect {
	if _, dup := s.unsubReq[m.MsgID]; dup {
		return out
	}
	filter, _, rc := s.subscription(m.Flags.TopicIDType, m.TopicName, m.TopicID)
	if rc != mqttsn.Accepted {
		out, p := send(out, mqttsn.TypeUnsuback)
		p.Unsuback.MsgID = m.MsgID
		return out
	}
	if len(s.unsubReq) >= s.cfg.MaxInflight {
		return out // UNSUBACK has no return code: the client retries
	}
	if s.unsubReq == nil {
		s.unsubReq = make(map[uint16]pendingSub)
	}
	s.unsubReq[m.MsgID] = pendingSub{Filter: filter}
	return append(out, Effect{Kind: EffUnsubscribe, MsgID: m.MsgID, Topic: filter})
}

func (s *Session) onUnsubscribed(msgID uint16, out []Effect) []Effect {
	ps, ok := s.unsubReq[msgID]
	if !ok {
		return out
	}
	delete(s.unsubReq, msgID)
	delete(s.subs, ps.Filter)
	if s.state == Disconnected || s.state == Lost {
		return out
	}
	out, p := send(out, mqttsn.TypeUnsuback)
	p.Unsuback.MsgID = msgID
	return out
}
