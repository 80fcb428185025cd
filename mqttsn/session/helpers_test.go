package session

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/snbridge/snbridge/mqttsn"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// predef is a test table of predefined topics.
type predef map[uint16]string

func (p predef) Topic(id uint16) (string, bool) { n, ok := p[id]; return n, ok }
func (p predef) ID(name string) (uint16, bool) {
	for id, n := range p {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// harness drives one Session with an explicit clock.
type harness struct {
	t   *testing.T
	s   *Session
	now time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return &harness{t: t, s: New(cfg), now: t0}
}

func (h *harness) at(d time.Duration) *harness { h.now = t0.Add(d); return h }

func (h *harness) step(ev Event) []Effect { return h.s.Step(h.now, ev, nil) }

func (h *harness) pkt(p mqttsn.Packet) []Effect {
	return h.step(Event{Kind: EvPacket, Packet: &p})
}

// expect runs ev and compares the effects with want.
func (h *harness) expect(what string, got []Effect, want ...Effect) {
	h.t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		h.t.Fatalf("%s: effects mismatch (-want +got):\n%s", what, d)
	}
}

func (h *harness) wantState(st State) {
	h.t.Helper()
	if h.s.State() != st {
		h.t.Fatalf("state = %v, want %v", h.s.State(), st)
	}
}

// connect brings the session to Active with ClientId "c1".
func (h *harness) connect(clean bool, keepAlive uint16) {
	h.t.Helper()
	h.expect("CONNECT", h.pkt(connectPkt("c1", clean, false, keepAlive)),
		stateEff(Disconnected, Connecting),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", CleanSession: clean, KeepAlive: time.Duration(keepAlive) * time.Second})
	h.expect("upstream opened", h.step(Event{Kind: EvUpstreamOpened}),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
}

// --- packet constructors ---

func connectPkt(id string, clean, will bool, dur uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
		Flags: mqttsn.Flags{CleanSession: clean, Will: will}, ProtocolID: mqttsn.ProtocolID,
		Duration: dur, ClientID: []byte(id)}}
}

func connackPkt(rc mqttsn.ReturnCode) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeConnack, Connack: mqttsn.Connack{ReturnCode: rc}}
}

func typ(t mqttsn.MsgType) mqttsn.Packet { return mqttsn.Packet{Type: t} }

func disconnectPkt(dur uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: dur > 0, Duration: dur}}
}

func pingreqPkt(id string) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: []byte(id)}}
}

func registerPkt(topicID, msgID uint16, name string) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{TopicID: topicID, MsgID: msgID, TopicName: []byte(name)}}
}

func regackPkt(topicID, msgID uint16, rc mqttsn.ReturnCode) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: topicID, MsgID: msgID, ReturnCode: rc}}
}

func publishPkt(qos mqttsn.QoS, t mqttsn.TopicIDType, topicID, msgID uint16, data string) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
		Flags: mqttsn.Flags{QoS: qos, TopicIDType: t}, TopicID: topicID, MsgID: msgID, Data: []byte(data)}}
}

// dupOf marks a PUBLISH as retransmitted.
func dupOf(p mqttsn.Packet) mqttsn.Packet { p.Publish.Flags.DUP = true; return p }

func retainOf(p mqttsn.Packet) mqttsn.Packet { p.Publish.Flags.Retain = true; return p }

func pubackPkt(topicID, msgID uint16, rc mqttsn.ReturnCode) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: topicID, MsgID: msgID, ReturnCode: rc}}
}

func pubrecPkt(id uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: id}}
}
func pubrelPkt(id uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePubrel, Pubrel: mqttsn.Pubrel{MsgID: id}}
}
func pubcompPkt(id uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypePubcomp, Pubcomp: mqttsn.Pubcomp{MsgID: id}}
}

func subscribePkt(qos mqttsn.QoS, t mqttsn.TopicIDType, msgID uint16, name string, topicID uint16) mqttsn.Packet {
	p := mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{
		Flags: mqttsn.Flags{QoS: qos, TopicIDType: t}, MsgID: msgID, TopicID: topicID}}
	if name != "" {
		p.Subscribe.TopicName = []byte(name)
	}
	return p
}

func subackPkt(qos mqttsn.QoS, topicID, msgID uint16, rc mqttsn.ReturnCode) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeSuback, Suback: mqttsn.Suback{
		Flags: mqttsn.Flags{QoS: qos}, TopicID: topicID, MsgID: msgID, ReturnCode: rc}}
}

func unsubscribePkt(t mqttsn.TopicIDType, msgID uint16, name string, topicID uint16) mqttsn.Packet {
	p := mqttsn.Packet{Type: mqttsn.TypeUnsubscribe, Unsubscribe: mqttsn.Unsubscribe{
		Flags: mqttsn.Flags{TopicIDType: t}, MsgID: msgID, TopicID: topicID}}
	if name != "" {
		p.Unsubscribe.TopicName = []byte(name)
	}
	return p
}

func unsubackPkt(id uint16) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeUnsuback, Unsuback: mqttsn.Unsuback{MsgID: id}}
}

// --- effect constructors ---

func sendEff(p mqttsn.Packet) Effect { return Effect{Kind: EffSend, Packet: p} }

func stateEff(from, to State) Effect { return Effect{Kind: EffStateChanged, From: from, To: to} }

func pubEff(msgID uint16, topic, payload string, qos mqttsn.QoS, retain bool) Effect {
	return Effect{Kind: EffPublish, MsgID: msgID, Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}
}

func subEff(msgID uint16, filter string, qos mqttsn.QoS) Effect {
	return Effect{Kind: EffSubscribe, MsgID: msgID, Topic: filter, QoS: qos}
}

func closeEff(clean bool) Effect { return Effect{Kind: EffCloseUpstream, CleanSession: clean} }

func willEff(topic, msg string, qos mqttsn.QoS, retain bool) Effect {
	return Effect{Kind: EffPublishWill, Topic: topic, Payload: []byte(msg), QoS: qos, Retain: retain}
}

// msgEv is a broker message for the client.
func msgEv(topic, payload string, qos mqttsn.QoS) Event {
	return Event{Kind: EvMessage, Topic: topic, Payload: []byte(payload), QoS: qos}
}

// subscribe subscribes the active client to filter at qos (granted as
// asked) and checks the SUBACK carries topicID.
func (h *harness) subscribe(msgID uint16, filter string, qos mqttsn.QoS, topicID uint16) {
	h.t.Helper()
	h.expect("SUBSCRIBE "+filter, h.pkt(subscribePkt(qos, mqttsn.TopicIDNormal, msgID, filter, 0)), subEff(msgID, filter, qos))
	h.expect("subscribed "+filter, h.step(Event{Kind: EvSubscribed, MsgID: msgID, Granted: qos}),
		sendEff(subackPkt(qos, topicID, msgID, mqttsn.Accepted)))
}
