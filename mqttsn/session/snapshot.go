package session

import (
	"maps"
	"slices"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// Snapshot is the durable state of a Session in plain, JSON-encodable
// data, for a gateway that persists persistent (CleanSession=false)
// sessions across restarts. Timers, the upstream session and pending
// upstream requests are not part of it.
type Snapshot struct {
	ClientID     string
	CleanSession bool
	State        State         // state when taken (informative; see [Restore])
	KeepAlive    time.Duration // from the last CONNECT
	SleepFor     time.Duration // from the last DISCONNECT with a duration
	Will         *WillData     `json:",omitempty"`
	// Topics is the client's registry: topic name -> normal topic id.
	Topics map[string]uint16
	// NextTopicID is where the search for a free topic id resumes.
	NextTopicID uint16
	// Subscriptions maps each topic filter to its granted QoS.
	Subscriptions map[string]mqttsn.QoS
	// Rejected lists topics whose REGISTER the client rejected.
	Rejected []string `json:",omitempty"`
	// AwaitingPubrel lists MsgIds of client QoS 2 PUBLISHes forwarded and
	// acknowledged with PUBREC, waiting for PUBREL.
	AwaitingPubrel []uint16 `json:",omitempty"`
	// InFlight is the delivery that was under way towards the client.
	InFlight *InFlight `json:",omitempty"`
	// Queue holds the buffered messages, oldest first.
	Queue     []Message `json:",omitempty"`
	LastMsgID uint16
	Stats     Stats
}

// WillData is a client's will. [MQTT-SN 1.2 §6.3]
type WillData struct {
	Topic  string
	Msg    []byte
	QoS    mqttsn.QoS
	Retain bool
}

// Message is a message towards the client, as kept in a [Snapshot].
type Message struct {
	Topic   string
	Payload []byte
	QoS     mqttsn.QoS
	Retain  bool
}

// InFlight is the delivery under way towards the client in a [Snapshot]:
// Stage 1 = REGISTER sent, 2 = QoS 1 PUBLISH sent, 3 = QoS 2 PUBLISH
// sent, 4 = PUBREL sent.
type InFlight struct {
	Message     Message
	Stage       uint8
	RegMsgID    uint16
	MsgID       uint16
	TopicID     uint16
	TopicIDType mqttsn.TopicIDType
}

// Snapshot returns a deep copy of the session's durable state.
func (s *Session) Snapshot() Snapshot {
	snap := Snapshot{
		ClientID:      s.clientID,
		CleanSession:  s.clean,
		State:         s.state,
		KeepAlive:     s.keepAlive,
		SleepFor:      s.sleep,
		Topics:        maps.Clone(s.reg.byName),
		NextTopicID:   s.reg.next,
		Subscriptions: maps.Clone(s.subs),
		LastMsgID:     s.lastMsgID,
		Stats:         s.stats,
	}
	if s.will.Topic != "" || s.will.Msg != nil {
		snap.Will = &WillData{Topic: s.will.Topic, Msg: slices.Clone(s.will.Msg), QoS: s.will.QoS, Retain: s.will.Retain}
	}
	for t := range s.rejected {
		snap.Rejected = append(snap.Rejected, t)
	}
	slices.Sort(snap.Rejected)
	for id, in := range s.inflight {
		if in.AwaitRel {
			snap.AwaitingPubrel = append(snap.AwaitingPubrel, id)
		}
	}
	slices.Sort(snap.AwaitingPubrel)
	if c := s.cur; c.active {
		snap.InFlight = &InFlight{
			Message: exportMessage(c.msg), Stage: uint8(c.stage), RegMsgID: c.regID,
			MsgID: c.msgID, TopicID: c.topicID, TopicIDType: c.idType,
		}
	}
	for i := range s.queue.len() {
		snap.Queue = append(snap.Queue, exportMessage(*s.queue.at(i)))
	}
	return snap
}

func exportMessage(m message) Message {
	return Message{Topic: m.Topic, Payload: slices.Clone(m.Payload), QoS: m.QoS, Retain: m.Retain}
}

// Restore rebuilds a Session from snap, for a gateway that restarted.
// The caller must feed [EvRestored] (with the current time) before any
// other event; any first event does it implicitly.
//
// A client that was Asleep or Awake is restored Asleep: its sleep timer
// restarts at EvRestored, its buffered messages are kept in order, and
// the delivery that was in flight is back at the front of the queue (it
// is re-sent with DUP, same MsgId, when the client wakes). A PINGREQ
// wakes it as usual, and it is never forced to reconnect: a CONNECT
// with CleanSession=true would discard its buffer.
//
// Any other client (active, connecting, disconnected or lost when the
// snapshot was taken) is restored Disconnected, and no will is published
// for it: the client's next packet gets an unsolicited DISCONNECT
// [MQTT-SN 1.2 §6.12], and its CONNECT with CleanSession=false finds its
// registrations, subscriptions, will and buffered messages.
//
// At EvRestored the session re-opens its upstream session (with the
// client's CleanSession flag) when it is asleep or persistent and
// re-subscribes its stored subscriptions there, since a broker that
// restarted too (the embedded one) or a clean broker-side session no
// longer has them; a persistent session that is not asleep closes the
// upstream session again right after (without discarding it), so the
// broker keeps what is published for it until it reconnects. When the
// event says the upstream kept the persistent broker session
// (Event.Kept, a remote broker), a persistent session that is not
// asleep opens nothing: its CONNECT resumes the broker session, which
// hands over what it queued.
//
// Invalid entries (reserved topic ids, out-of-range QoS) are skipped
// rather than trusted.
func Restore(cfg Config, snap Snapshot) *Session {
	s := New(cfg)
	s.clientID = snap.ClientID
	s.clean = snap.CleanSession
	s.keepAlive = max(snap.KeepAlive, 0)
	s.sleep = max(snap.SleepFor, 0)
	s.lastMsgID = snap.LastMsgID
	s.stats = snap.Stats
	if w := snap.Will; w != nil {
		s.will = will{Topic: w.Topic, Msg: slices.Clone(w.Msg), QoS: clampQoS(w.QoS), Retain: w.Retain}
	}
	for name, id := range snap.Topics {
		if id != mqttsn.TopicIDReserved0 && id != mqttsn.TopicIDReservedMax && name != "" {
			if _, dup := s.reg.byID[id]; !dup {
				s.reg.insert(name, id)
			}
		}
	}
	s.reg.next = max(s.reg.next, snap.NextTopicID)
	for f, q := range snap.Subscriptions {
		if s.subs == nil {
			s.subs = make(map[string]mqttsn.QoS)
		}
		s.subs[f] = clampQoS(q)
	}
	for _, t := range snap.Rejected {
		if s.rejected == nil {
			s.rejected = make(map[string]struct{})
		}
		s.rejected[t] = struct{}{}
	}
	for _, id := range snap.AwaitingPubrel {
		if s.inflight == nil {
			s.inflight = make(map[uint16]inbound)
		}
		s.inflight[id] = inbound{QoS: mqttsn.QoS2, AwaitRel: true}
	}
	for _, m := range snap.Queue {
		s.queue.pushBack(importMessage(m))
	}
	if f := snap.InFlight; f != nil {
		s.restoreInFlight(f)
	}
	if (snap.State == Asleep || snap.State == Awake) && s.sleep > 0 && s.clientID != "" {
		s.state = Asleep
	}
	s.restored = s.clientID != ""
	return s
}

// onRestored restarts the timers and re-opens the upstream session of a
// restored asleep or persistent client (see [Restore]).
func (s *Session) onRestored(now time.Time, kept bool, out []Effect) []Effect {
	s.restored = false
	s.lastRx = now
	if s.state != Asleep && (s.clean || kept) {
		// Nothing to keep (the gateway drops it), or the broker kept
		// the session: the client's CONNECT resumes it.
		return out
	}
	s.resub = true
	s.park = s.state != Asleep && !s.cfg.HoldUpstream
	return s.reopen(out)
}

// reopen opens the upstream session of a restored client that is not
// connecting; the re-subscription follows in onUpstreamOpened.
func (s *Session) reopen(out []Effect) []Effect {
	s.up, s.upWant, s.upClean = upOpening, true, s.clean
	return append(out, Effect{
		Kind:         EffOpenUpstream,
		ClientID:     s.clientID,
		CleanSession: s.clean,
		KeepAlive:    s.keepAlive,
	})
}

// resubscribe re-issues every stored subscription, in filter order, with
// MsgID 0; onSubscribed takes their answers first (they come in order).
// Retained messages matching them are delivered again, as after any
// SUBSCRIBE [MQTT 3.1.1 §3.8.4].
func (s *Session) resubscribe(out []Effect) []Effect {
	s.resub = false
	for _, f := range slices.Sorted(maps.Keys(s.subs)) {
		out = append(out, Effect{Kind: EffSubscribe, Topic: f, QoS: s.subs[f]})
		s.resubLeft++
	}
	return out
}

// Changes returns a counter that grows with every [Session.Step] that
// may have changed what [Session.Snapshot] returns. It is conservative
// (it may grow when nothing durable changed) but never misses a change,
// so a gateway that saved a snapshot at one value need not save again
// while the value stays. Hot paths that change nothing durable (a client
// PUBLISH at QoS -1, 0 or 1 and PINGREQ while active, the upstream's
// acknowledgement of a QoS 1 PUBLISH) leave it alone.
func (s *Session) Changes() uint64 { return s.changes }

// transient reports whether ev cannot change the durable state.
func (s *Session) transient(ev *Event) bool {
	if s.state != Active {
		return false
	}
	switch ev.Kind {
	case EvPacket:
		p := ev.Packet
		if p == nil {
			return true
		}
		switch p.Type {
		case mqttsn.TypePingreq:
			return true
		case mqttsn.TypePublish:
			return p.Publish.Flags.QoS <= mqttsn.QoS1
		}
	case EvPublished:
		in, ok := s.inflight[ev.MsgID]
		return !ok || in.QoS == mqttsn.QoS1
	}
	return false
}

func importMessage(m Message) message {
	return message{Topic: m.Topic, Payload: slices.Clone(m.Payload), QoS: clampQoS(m.QoS), Retain: m.Retain}
}

// restoreInFlight resumes a saved delivery, or requeues its message at
// the front when the saved exchange is inconsistent.
func (s *Session) restoreInFlight(f *InFlight) {
	m := importMessage(f.Message)
	st := stage(f.Stage)
	ok := st >= stRegister && st <= stPubcomp &&
		(st == stRegister) == (f.RegMsgID != 0 && f.TopicID != 0) &&
		(st == stRegister || f.MsgID != 0) &&
		(st != stPuback || m.QoS == mqttsn.QoS1) &&
		(st < stPubrec || m.QoS == mqttsn.QoS2)
	if st == stRegister {
		if name, known := s.reg.topic(f.TopicID); !known || name != m.Topic {
			ok = false
		}
	}
	if !ok {
		s.queue.pushFront(m)
		return
	}
	s.cur = delivery{
		active: true, paused: true, msg: m, stage: st, regID: f.RegMsgID,
		msgID: f.MsgID, topicID: f.TopicID, idType: f.TopicIDType,
	}
}

// MarshalText encodes a State by name (for [Snapshot] in JSON).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a State name written by [State.MarshalText];
// an unknown name is Disconnected.
func (s *State) UnmarshalText(b []byte) error {
	*s = Disconnected
	for st := Disconnected; st <= Lost; st++ {
		if st.String() == string(b) {
			*s = st
		}
	}
	return nil
}
