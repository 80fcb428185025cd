package session

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

var fuzzTopics = []string{"a/b", "a/c", "ab", "p/1", "x", "#", "a/+", "a/#/b", "s/long/topic/name"}

// fuzzModel watches the effects of a Session as the client would and
// checks the protocol invariants.
type fuzzModel struct {
	t      *testing.T
	reg    uint16 // MsgId of the gateway REGISTER awaiting REGACK (0 = none)
	pub    uint16 // MsgId of the gateway QoS>0 PUBLISH awaiting its end
	state  State
	events int
}

func (m *fuzzModel) reset() { m.reg, m.pub = 0, 0 }

// client notes a packet the fuzzer feeds to the session.
func (m *fuzzModel) client(p *mqttsn.Packet) {
	switch p.Type {
	case mqttsn.TypeRegack:
		if p.Regack.MsgID == m.reg {
			m.reg = 0
		}
	case mqttsn.TypePuback:
		if p.Puback.MsgID == m.pub {
			m.pub = 0
		}
	case mqttsn.TypePubcomp:
		if p.Pubcomp.MsgID == m.pub {
			m.pub = 0
		}
	}
}

func (m *fuzzModel) check(s *Session, now time.Time, ev Event, effs []Effect) {
	m.t.Helper()
	for _, e := range effs {
		switch e.Kind {
		case EffStateChanged:
			if e.From != m.state || e.From == e.To {
				m.t.Fatalf("event %d: state change %v->%v, model state %v", m.events, e.From, e.To, m.state)
			}
			m.state = e.To
			if e.To == Lost || e.To == Disconnected || e.To == Connecting {
				// The client's connection is over or starts again; a
				// persistent session resumes with the same MsgIds.
				m.reset()
			}
		case EffSend:
			p := &e.Packet
			switch p.Type {
			case mqttsn.TypeRegister:
				if p.Register.MsgID == 0 || p.Register.TopicID == 0 || p.Register.TopicID == 0xFFFF {
					m.t.Fatalf("event %d: REGISTER with MsgId %d TopicId %d", m.events, p.Register.MsgID, p.Register.TopicID)
				}
				if m.reg != 0 && m.reg != p.Register.MsgID {
					m.t.Fatalf("event %d: second REGISTER %d while %d outstanding", m.events, p.Register.MsgID, m.reg)
				}
				m.reg = p.Register.MsgID
			case mqttsn.TypePublish:
				if p.Publish.Flags.QoS <= mqttsn.QoS0 {
					if p.Publish.MsgID != 0 {
						m.t.Fatalf("event %d: QoS 0 PUBLISH with MsgId %d", m.events, p.Publish.MsgID)
					}
					continue
				}
				if p.Publish.MsgID == 0 {
					m.t.Fatalf("event %d: QoS %v PUBLISH with MsgId 0", m.events, p.Publish.Flags.QoS)
				}
				if m.pub != 0 && m.pub != p.Publish.MsgID {
					m.t.Fatalf("event %d: second PUBLISH %d while %d outstanding", m.events, p.Publish.MsgID, m.pub)
				}
				m.pub = p.Publish.MsgID
			case mqttsn.TypePubrel:
				if p.Pubrel.MsgID == 0 || (m.pub != 0 && p.Pubrel.MsgID != m.pub) {
					m.t.Fatalf("event %d: PUBREL %d, outstanding PUBLISH %d", m.events, p.Pubrel.MsgID, m.pub)
				}
				m.pub = p.Pubrel.MsgID
			}
		}
	}
	if m.state != s.State() {
		m.t.Fatalf("event %d: State() = %v, effects say %v", m.events, s.State(), m.state)
	}
	d := s.NextDeadline()
	if !d.IsZero() && (s.state == Disconnected || s.state == Lost) {
		m.t.Fatalf("event %d: deadline %v in state %v", m.events, d, s.state)
	}
	if ev.Kind == EvTick && !d.IsZero() && !d.After(now) {
		m.t.Fatalf("event %d: after a tick at %v NextDeadline is %v (would spin)", m.events, now, d)
	}
	// Liveness: an active or awake client with nothing in flight and no
	// SUBACK pending has nothing queued either (an awake one is asleep
	// again after PINGRESP).
	if idle := !s.cur.active && len(s.subReq) == 0; idle && s.state == Awake {
		m.t.Fatalf("event %d: awake with nothing in flight", m.events)
	} else if idle && s.state == Active && s.queue.len() > 0 {
		m.t.Fatalf("event %d: active with %d queued and nothing in flight", m.events, s.queue.len())
	}
	if s.cur.active && s.cur.paused && (s.state == Active || s.state == Awake) && len(s.subReq) == 0 {
		m.t.Fatalf("event %d: delivery paused while %v", m.events, s.state)
	}
	if q := s.queue.len(); q > max(s.cfg.MaxQueue, s.cfg.SleepBuffer) {
		m.t.Fatalf("event %d: queue %d over its bounds", m.events, q)
	}
}

func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 15, 0, 0, 0, 12, 1, 0, 5, 19, 0, 1, 0, 20, 0, 0, 0})
	f.Add([]byte{0, 2, 2, 0, 1, 0, 0, 0, 2, 0, 0, 0, 15, 0, 0, 0, 12, 2, 0, 6, 17, 1, 2, 0,
		19, 0, 2, 0, 6, 1, 1, 0, 3, 1, 0, 0, 19, 1, 1, 0, 4, 0, 0, 0, 20, 0, 0, 0, 20, 0, 0, 0})
	f.Add([]byte{0, 1, 1, 0, 15, 0, 0, 0, 5, 0, 1, 0, 7, 2, 0, 1, 16, 1, 0, 0, 7, 2, 0, 1, 10, 1, 0, 0})
	// Asleep with a buffered message and a REGISTER in flight, restart,
	// re-open, wake.
	f.Add([]byte{0, 0, 0, 0, 15, 0, 0, 0, 12, 1, 0, 5, 19, 0, 1, 0, 3, 1, 0, 0, 19, 1, 1, 0,
		0xFF, 0, 0, 0, 15, 0, 0, 0, 17, 0, 0, 0, 4, 1, 0, 0, 6, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		pre := predef{1: "p/1", 2: "ab"}
		s := New(Config{
			RetryInterval: 10 * time.Second, RetryCount: 2, SleepBuffer: 3, MaxQueue: 4,
			MaxTopics: 4, MaxInflight: 2, MaxPacket: 40, BufferQoS0: len(data)%2 == 0, Predefined: pre,
			HoldUpstream: len(data)%3 == 0,
		})
		m := &fuzzModel{t: t}
		now := t0
		var out []Effect
		for len(data) >= 4 {
			op, a, b, c := data[0], data[1], data[2], data[3]
			data = data[4:]
			if op == 0xFF {
				// The gateway restarts: snapshot, JSON, restore.
				s = fuzzRestart(t, s)
				m.state = s.State()
				m.reset()
				ev := Event{Kind: EvRestored, Kept: a&1 == 1}
				out = s.Step(now, ev, out[:0])
				m.events++
				m.check(s, now, ev, out)
				continue
			}
			ev, ok := fuzzEvent(s, &now, op, a, b, c)
			if !ok {
				continue
			}
			if ev.Kind == EvPacket {
				m.client(ev.Packet)
			}
			out = s.Step(now, ev, out[:0])
			m.events++
			m.check(s, now, ev, out)
		}
	})
}

// fuzzRestart is what a gateway restart does to s.
func fuzzRestart(t *testing.T, s *Session) *Session {
	js, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.Unmarshal(js, &snap); err != nil {
		t.Fatal(err)
	}
	r := Restore(s.cfg, snap)
	if st := r.State(); st != Asleep && st != Disconnected {
		t.Fatalf("restored %v", st)
	}
	if (s.state == Asleep || s.state == Awake) && s.sleep > 0 && r.State() != Asleep {
		t.Fatalf("%v session restored %v", s.state, r.State())
	}
	if r.Queued() != s.Queued() {
		t.Fatalf("restored %d queued, had %d", r.Queued(), s.Queued())
	}
	return r
}

// fuzzEvent builds an event from four fuzz bytes.
func fuzzEvent(s *Session, now *time.Time, op, a, b, c byte) (Event, bool) {
	topic := fuzzTopics[int(a)%len(fuzzTopics)]
	msgID := uint16(b % 8)
	pkt := func(p mqttsn.Packet) (Event, bool) { return Event{Kind: EvPacket, Packet: &p}, true }
	var err error
	if c&1 == 1 {
		err = errors.New("upstream error")
	}
	switch op % 22 {
	case 0:
		id := []string{"c1", "c2", ""}[int(c)%3]
		return pkt(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
			Flags: mqttsn.Flags{CleanSession: a&1 == 1, Will: a&2 == 2}, ProtocolID: 1,
			Duration: uint16(b%4) * 5, ClientID: []byte(id)}})
	case 1:
		p := mqttsn.Packet{Type: mqttsn.TypeWillTopic}
		if b&1 == 0 {
			p.WillTopic = mqttsn.WillTopic{Flags: mqttsn.Flags{QoS: mqttsn.QoS(c % 3)}, Topic: []byte(topic)}
		}
		return pkt(p)
	case 2:
		return pkt(mqttsn.Packet{Type: mqttsn.TypeWillMsg, WillMsg: mqttsn.WillMsg{Msg: []byte{a}}})
	case 3:
		return pkt(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: a%3 != 0, Duration: uint16(a%3) * 10}})
	case 4:
		return pkt(mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: []byte("c1")[:a%2*2]}})
	case 5:
		return pkt(mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: msgID, TopicName: []byte(topic)}})
	case 6:
		// Answer the REGISTER in flight most of the time.
		id, rc := s.cur.regID, mqttsn.ReturnCode(c%4)
		if a&1 == 1 {
			id = msgID
		}
		return pkt(mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: s.cur.topicID, MsgID: id, ReturnCode: rc}})
	case 7:
		return pkt(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
			Flags:   mqttsn.Flags{QoS: mqttsn.QoS(int(a%4) - 1), TopicIDType: mqttsn.TopicIDType(c % 3), DUP: c&4 == 4},
			TopicID: uint16(c>>2) % 6, MsgID: msgID, Data: []byte{a, b, c}}})
	case 8:
		id, rc := s.cur.msgID, mqttsn.ReturnCode(0)
		if a&1 == 1 {
			id, rc = msgID, mqttsn.ReturnCode(c%4)
		}
		return pkt(mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: uint16(c % 6), MsgID: id, ReturnCode: rc}})
	case 9, 11:
		id := s.cur.msgID
		if a&1 == 1 {
			id = msgID
		}
		if op%22 == 9 {
			return pkt(mqttsn.Packet{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: id}})
		}
		return pkt(mqttsn.Packet{Type: mqttsn.TypePubcomp, Pubcomp: mqttsn.Pubcomp{MsgID: id}})
	case 10:
		return pkt(mqttsn.Packet{Type: mqttsn.TypePubrel, Pubrel: mqttsn.Pubrel{MsgID: msgID}})
	case 12, 13:
		t := mqttsn.TopicIDType(c % 3)
		p := mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{
			Flags: mqttsn.Flags{QoS: mqttsn.QoS(b % 3), TopicIDType: t}, MsgID: msgID, TopicID: uint16(a % 4)}}
		if t == mqttsn.TopicIDNormal {
			p.Subscribe.TopicName = []byte(topic)
		}
		if op%22 == 13 {
			p.Type = mqttsn.TypeUnsubscribe
			p.Unsubscribe = mqttsn.Unsubscribe{Flags: p.Subscribe.Flags, MsgID: msgID, TopicName: p.Subscribe.TopicName, TopicID: p.Subscribe.TopicID}
		}
		return pkt(p)
	case 14:
		if b&1 == 0 {
			p := mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd}
			if c&1 == 0 {
				p.WillTopicUpd.Topic = []byte(topic)
			}
			return pkt(p)
		}
		return pkt(mqttsn.Packet{Type: mqttsn.TypeWillMsgUpd, WillMsgUpd: mqttsn.WillMsgUpd{Msg: []byte{c}}})
	case 15:
		return Event{Kind: EvUpstreamOpened, Err: err}, true
	case 16:
		return Event{Kind: EvPublished, MsgID: msgID, Err: err}, true
	case 17:
		return Event{Kind: EvSubscribed, MsgID: msgID, Granted: mqttsn.QoS(a % 3), Err: err}, true
	case 18:
		return Event{Kind: EvUnsubscribed, MsgID: msgID}, true
	case 19:
		return Event{Kind: EvMessage, Topic: topic, Payload: make([]byte, int(c%48)), QoS: mqttsn.QoS(b % 3), Retain: c&1 == 1}, true
	case 20:
		if d := s.NextDeadline(); !d.IsZero() && d.After(*now) {
			*now = d
		}
		return Event{Kind: EvTick}, true
	case 21:
		*now = now.Add(time.Duration(a) * time.Second)
		return Event{Kind: EvTick}, true
	}
	return Event{}, false
}
