package mqttsn

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// maxDataShown is how many octets of a payload String shows.
const maxDataShown = 64

// String renders the message p.Type selects on one line, for debug logs
// and golden files: the type name, then key=value pairs for its fields,
// e.g.
//
//	PUBLISH qos=1 retain topic_id_type=normal topic_id=0x0001 msg_id=7 data="21.5"
//
// Text fields are quoted with Go escapes, payloads are cut after 64
// octets, node ids and gateway addresses are hex. An encapsulated message
// is parsed and rendered inside braces. String allocates; call it only
// when the line is written.
func (p *Packet) String() string {
	var s strings.Builder
	s.WriteString(p.Type.String())
	p.writeFields(&s)
	return s.String()
}

func (p *Packet) writeFields(s *strings.Builder) {
	switch p.Type {
	case TypeAdvertise:
		kv(s, "gw_id", p.Advertise.GwID)
		kv(s, "duration", p.Advertise.Duration)
	case TypeSearchGW:
		kv(s, "radius", p.SearchGW.Radius)
	case TypeGWInfo:
		kv(s, "gw_id", p.GWInfo.GwID)
		if len(p.GWInfo.GwAdd) > 0 {
			kv(s, "gw_add", hex.EncodeToString(p.GWInfo.GwAdd))
		}
	case TypeConnect:
		m := &p.Connect
		flag(s, m.Flags.Will, "will")
		flag(s, m.Flags.CleanSession, "clean")
		kv(s, "protocol_id", m.ProtocolID)
		kv(s, "duration", m.Duration)
		kv(s, "client_id", quote(m.ClientID))
	case TypeConnack:
		kv(s, "return_code", p.Connack.ReturnCode.quoted())
	case TypeWillTopic:
		writeWillTopic(s, p.WillTopic.Flags, p.WillTopic.Topic)
	case TypeWillTopicUpd:
		writeWillTopic(s, p.WillTopicUpd.Flags, p.WillTopicUpd.Topic)
	case TypeWillMsg:
		kv(s, "msg", quote(p.WillMsg.Msg))
	case TypeWillMsgUpd:
		kv(s, "msg", quote(p.WillMsgUpd.Msg))
	case TypeRegister:
		m := &p.Register
		kv(s, "topic_id", topicID(m.TopicID))
		kv(s, "msg_id", m.MsgID)
		kv(s, "topic", quote(m.TopicName))
	case TypeRegack:
		writeAck(s, p.Regack.TopicID, p.Regack.MsgID, p.Regack.ReturnCode)
	case TypePublish:
		p.writePublish(s)
	case TypePuback:
		writeAck(s, p.Puback.TopicID, p.Puback.MsgID, p.Puback.ReturnCode)
	case TypePubrec:
		kv(s, "msg_id", p.Pubrec.MsgID)
	case TypePubrel:
		kv(s, "msg_id", p.Pubrel.MsgID)
	case TypePubcomp:
		kv(s, "msg_id", p.Pubcomp.MsgID)
	case TypeSubscribe:
		m := &p.Subscribe
		flag(s, m.Flags.DUP, "dup")
		kv(s, "qos", m.Flags.QoS)
		kv(s, "msg_id", m.MsgID)
		writeTopicRef(s, m.Flags.TopicIDType, m.TopicName, m.TopicID)
	case TypeSuback:
		m := &p.Suback
		kv(s, "qos", m.Flags.QoS)
		writeAck(s, m.TopicID, m.MsgID, m.ReturnCode)
	case TypeUnsubscribe:
		m := &p.Unsubscribe
		kv(s, "msg_id", m.MsgID)
		writeTopicRef(s, m.Flags.TopicIDType, m.TopicName, m.TopicID)
	case TypeUnsuback:
		kv(s, "msg_id", p.Unsuback.MsgID)
	case TypePingreq:
		if len(p.Pingreq.ClientID) > 0 {
			kv(s, "client_id", quote(p.Pingreq.ClientID))
		}
	case TypeDisconnect:
		if p.Disconnect.HasDuration {
			kv(s, "duration", p.Disconnect.Duration)
		}
	case TypeWillTopicResp:
		kv(s, "return_code", p.WillTopicResp.ReturnCode.quoted())
	case TypeWillMsgResp:
		kv(s, "return_code", p.WillMsgResp.ReturnCode.quoted())
	case TypeEncapsulated:
		p.writeEncapsulated(s)
	}
}

func (p *Packet) writePublish(s *strings.Builder) {
	m := &p.Publish
	flag(s, m.Flags.DUP, "dup")
	kv(s, "qos", m.Flags.QoS)
	flag(s, m.Flags.Retain, "retain")
	kv(s, "topic_id_type", m.Flags.TopicIDType)
	if m.Flags.TopicIDType == TopicIDShort {
		kv(s, "topic", strconv.Quote(ShortTopicName(m.TopicID)))
	} else {
		kv(s, "topic_id", topicID(m.TopicID))
	}
	kv(s, "msg_id", m.MsgID)
	kv(s, "data", quote(m.Data))
}

func (p *Packet) writeEncapsulated(s *strings.Builder) {
	m := &p.Encapsulated
	kv(s, "radius", m.Radius)
	kv(s, "node_id", hex.EncodeToString(m.NodeID))
	var inner Packet
	if err := Parse(m.Message, &inner); err != nil || inner.Type == TypeEncapsulated {
		kv(s, "message", hex.EncodeToString(m.Message))
		return
	}
	s.WriteString(" message={")
	s.WriteString(inner.String())
	s.WriteString("}")
}

func writeWillTopic(s *strings.Builder, f Flags, topic []byte) {
	if len(topic) == 0 {
		s.WriteString(" (empty)")
		return
	}
	kv(s, "qos", f.QoS)
	flag(s, f.Retain, "retain")
	kv(s, "topic", quote(topic))
}

func writeAck(s *strings.Builder, id, msgID uint16, rc ReturnCode) {
	kv(s, "topic_id", topicID(id))
	kv(s, "msg_id", msgID)
	kv(s, "return_code", rc.quoted())
}

func writeTopicRef(s *strings.Builder, t TopicIDType, name []byte, id uint16) {
	kv(s, "topic_id_type", t)
	switch t {
	case TopicIDNormal:
		kv(s, "topic", quote(name))
	case TopicIDShort:
		kv(s, "topic", strconv.Quote(ShortTopicName(id)))
	default:
		kv(s, "topic_id", topicID(id))
	}
}

func kv(s *strings.Builder, k string, v any) {
	fmt.Fprintf(s, " %s=%v", k, v)
}

func flag(s *strings.Builder, set bool, name string) {
	if set {
		s.WriteString(" ")
		s.WriteString(name)
	}
}

type topicID uint16

func (id topicID) String() string { return fmt.Sprintf("0x%04X", uint16(id)) }

func (r ReturnCode) quoted() string { return strconv.Quote(r.String()) }

// quote renders b as a Go string literal, cut after maxDataShown octets.
func quote(b []byte) string {
	if len(b) <= maxDataShown {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:maxDataShown])) + "...(" + strconv.Itoa(len(b)) + " octets)"
}
