package session

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultRetryInterval = 10 * time.Second
	DefaultRetryCount    = 3
	DefaultSleepBuffer   = 100
	DefaultMaxTopics     = 1000
	DefaultMaxInflight   = 32
	DefaultMaxQueue      = 1000
	DefaultMaxPacket     = 65535
)

// WithDefaults returns c with every zero (or negative) limit replaced by
// its default. [New] calls it; config validation may call it too.
func (c Config) WithDefaults() Config {
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.RetryCount <= 0 {
		c.RetryCount = DefaultRetryCount
	}
	if c.SleepBuffer <= 0 {
		c.SleepBuffer = DefaultSleepBuffer
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = DefaultMaxTopics
	}
	if c.MaxTopics > 65533 {
		c.MaxTopics = 65533 // usable topic ids [MQTT-SN 1.2 §5.3.11]
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.MaxPacket <= 0 || c.MaxPacket > DefaultMaxPacket {
		c.MaxPacket = DefaultMaxPacket
	}
	return c
}

// Stats counts the messages towards the client that a Session did not
// deliver. All counters only grow.
type Stats struct {
	// Overflow: the oldest queued message was dropped to make room
	// (MaxQueue while active, SleepBuffer while asleep or awake).
	Overflow uint64
	// NotBuffered: QoS 0 messages dropped because the client was asleep
	// and BufferQoS0 is off.
	NotBuffered uint64
	// Rejected: messages not published because the client rejected the
	// REGISTER of their topic, rejected the PUBLISH, the topic was
	// unsubscribed by such a rejection, or the registry was full.
	Rejected uint64
	// TooLarge: messages whose REGISTER or PUBLISH would exceed MaxPacket
	// (silently aborted). [MQTT-SN 1.2 §6.10]
	TooLarge uint64
	// Discarded: queued messages thrown away by a clean session start or
	// end, and messages that arrived with no session to deliver to.
	Discarded uint64
}

// connect dialogue phases while State is Connecting. [MQTT-SN 1.2 §6.2]
type phase uint8

const (
	phaseNone      phase = iota
	phaseWillTopic       // WILLTOPICREQ sent, waiting for WILLTOPIC
	phaseWillMsg         // WILLMSGREQ sent, waiting for WILLMSG
	phaseUpstream        // dialogue done, waiting for EvUpstreamOpened
)

// upstream session of the client, as far as the session knows.
type upState uint8

const (
	upClosed upState = iota
	upOpening
	upOpen
)

// will is the client's Will data. [MQTT-SN 1.2 §6.3, §6.4]
type will struct {
	Topic  string // "" = no will
	Msg    []byte // owned copy
	QoS    mqttsn.QoS
	Retain bool
}

// inbound is a client PUBLISH at QoS 1 or 2 not finished yet.
type inbound struct {
	QoS      mqttsn.QoS
	TopicID  uint16
	AwaitRel bool // QoS 2: forwarded and PUBREC sent, waiting for PUBREL
}

// pendingSub is a SUBSCRIBE or UNSUBSCRIBE waiting for the upstream.
type pendingSub struct {
	Filter  string
	QoS     mqttsn.QoS // requested (SUBSCRIBE)
	TopicID uint16     // for the SUBACK
}

// stage of the delivery in flight towards the client.
type stage uint8

const (
	stRegister stage = iota + 1 // REGISTER sent, waiting for REGACK
	stPuback                    // QoS 1 PUBLISH sent, waiting for PUBACK
	stPubrec                    // QoS 2 PUBLISH sent, waiting for PUBREC
	stPubcomp                   // PUBREL sent, waiting for PUBCOMP
)

// delivery is the one exchange in flight towards the client: a REGISTER
// then the PUBLISH of the same message. [MQTT-SN 1.2 §6.5, §6.6, §6.10]
type delivery struct {
	active  bool
	paused  bool // client asleep, lost or reconnecting: re-send on resume
	msg     message
	stage   stage
	regID   uint16 // MsgId of the REGISTER
	msgID   uint16 // MsgId of the PUBLISH (QoS 1/2)
	topicID uint16
	idType  mqttsn.TopicIDType
	sentAt  time.Time
	tries   int // retransmissions so far [MQTT-SN 1.2 §6.13]
}

// Session is the MQTT-SN state of one client as the gateway sees it
// (MQTT-SN 1.2 §6). It is not safe for concurrent use: the gateway loop
// owns it. See the package documentation for the rules it implements.
type Session struct {
	cfg Config

	state     State
	clientID  string
	clean     bool
	keepAlive time.Duration
	sleep     time.Duration
	lastRx    time.Time // last packet from the client, or timer restart

	phase   phase
	newWill will // will data collected during the CONNECT dialogue

	up      upState
	upWant  bool // an opening upstream is still wanted
	upClean bool // CleanSession the upstream was opened with

	will     will
	reg      registry
	subs     map[string]mqttsn.QoS
	subReq   map[uint16]pendingSub // SUBSCRIBE MsgId -> pending
	unsubReq map[uint16]pendingSub // UNSUBSCRIBE MsgId -> pending
	inflight map[uint16]inbound    // client PUBLISH MsgId -> state
	rejected map[string]struct{}   // topics the client rejected a REGISTER of

	queue     ring
	cur       delivery
	awakeLeft int // messages still to deliver in this awake period
	lastMsgID uint16

	stats    Stats
	tooLarge dropNote // the last message counted in stats.TooLarge

	// Persistence (see snapshot.go).
	changes   uint64 // grows with every Step that may change the Snapshot
	restored  bool   // made by Restore; EvRestored not handled yet
	resub     bool   // re-subscribe s.subs once the upstream session is open
	park      bool   // close the upstream session again after re-subscribing
	resubLeft int    // re-SUBSCRIBE answers still due (they come first, in order)
}

// New returns a session in state Disconnected, waiting for a CONNECT.
// Zero fields of cfg take their defaults (see [Config.WithDefaults]).
func New(cfg Config) *Session {
	return &Session{cfg: cfg.WithDefaults()}
}

// State returns the client's state.
func (s *Session) State() State { return s.state }

// ClientID returns the ClientId of the last CONNECT ("" before any).
func (s *Session) ClientID() string { return s.clientID }

// Persistent reports whether the client connected with CleanSession
// false: its subscriptions, registrations, will and buffered messages
// outlive a DISCONNECT or loss, and the gateway should keep the Session.
func (s *Session) Persistent() bool { return !s.clean && s.clientID != "" }

// KeepAlive returns the keep-alive duration of the last CONNECT (0 = not
// supervised).
func (s *Session) KeepAlive() time.Duration { return s.keepAlive }

// SleepDuration returns the sleep duration of the last DISCONNECT with a
// duration.
func (s *Session) SleepDuration() time.Duration { return s.sleep }

// Queued returns the number of messages waiting for the client: the
// sleep buffer or delivery queue, plus the one in flight.
func (s *Session) Queued() int {
	n := s.queue.len()
	if s.cur.active {
		n++
	}
	return n
}

// Stats returns the drop counters.
func (s *Session) Stats() Stats { return s.stats }

// Dropped returns the number of messages dropped because the queue or
// the sleep buffer was full (Stats().Overflow).
func (s *Session) Dropped() uint64 { return s.stats.Overflow }

// Step feeds one event to the session at time now and appends to out the
// effects the caller must carry out, in order. It never panics on bad
// input: a packet that makes no sense in the current state is answered
// as the spec says or ignored.
func (s *Session) Step(now time.Time, ev Event, out []Effect) []Effect {
	if s.restored {
		out = s.onRestored(now, ev.Kind == EvRestored && ev.Kept, out)
	}
	if !s.transient(&ev) {
		s.changes++
	}
	switch ev.Kind {
	case EvPacket:
		if ev.Packet == nil {
			return out
		}
		return s.onPacket(now, ev.Packet, out)
	case EvUpstreamOpened:
		return s.onUpstreamOpened(now, ev.Err, out)
	case EvPublished:
		return s.onPublished(ev.MsgID, ev.Err, out)
	case EvSubscribed:
		return s.onSubscribed(now, ev.MsgID, ev.Granted, ev.Err, out)
	case EvUnsubscribed:
		return s.onUnsubscribed(ev.MsgID, out)
	case EvMessage:
		return s.onMessage(now, &ev, out)
	case EvTick:
		return s.onTick(now, out)
	}
	return out // EvRestored: handled above
}

// tolerance is the supervision time the gateway allows for a keep-alive
// or sleep duration d. [MQTT-SN 1.2 §7.2: "10% higher than the indicated
// values for durations larger than 1 minute, and 50% higher if less"]
func tolerance(d time.Duration) time.Duration {
	if d > time.Minute {
		return d + d/10
	}
	return d + d/2
}

// dialogueTimeout is how long the gateway waits for WILLTOPIC or WILLMSG:
// as long as the client keeps retrying (T_retry × (N_retry+1)).
func (s *Session) dialogueTimeout() time.Duration {
	return s.cfg.RetryInterval * time.Duration(s.cfg.RetryCount+1)
}

// NextDeadline returns when the session next needs an EvTick (the
// earliest of keep-alive, sleep, retry and will-dialogue timers), or the
// zero time when no timer runs.
func (s *Session) NextDeadline() time.Time {
	var d time.Time
	switch s.state {
	case Active:
		if s.keepAlive > 0 {
			d = s.lastRx.Add(tolerance(s.keepAlive))
		}
		d = earliest(d, s.retryDeadline())
	case Awake:
		if d = s.retryDeadline(); d.IsZero() {
			// Nothing in flight (deliveries held for a SUBACK): the
			// awake period ends at the sleep timer's time anyway.
			d = s.lastRx.Add(tolerance(s.sleep))
		}
	case Asleep:
		d = s.lastRx.Add(tolerance(s.sleep))
	case Connecting:
		if s.phase == phaseWillTopic || s.phase == phaseWillMsg {
			d = s.lastRx.Add(s.dialogueTimeout())
		}
	}
	return d
}

func (s *Session) retryDeadline() time.Time {
	if !s.cur.active || s.cur.paused {
		return time.Time{}
	}
	return s.cur.sentAt.Add(s.cfg.RetryInterval)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

func (s *Session) onTick(now time.Time, out []Effect) []Effect {
	switch s.state {
	case Active:
		// [MQTT-SN 1.2 §6.14] "If the server/gateway does not receive any
		// message from the client for a period longer than the keep alive
		// duration ... the gateway will consider that client as lost"
		if s.keepAlive > 0 && !now.Before(s.lastRx.Add(tolerance(s.keepAlive))) {
			return s.lose(out)
		}
		return s.retry(now, out)
	case Awake:
		if !s.cur.active || s.cur.paused {
			// Deliveries held (a SUBSCRIBE still waits for the upstream)
			// for as long as the client may sleep: close the awake
			// period; what is left waits for the next wake-up.
			if !now.Before(s.lastRx.Add(tolerance(s.sleep))) {
				return s.finishAwake(now, out)
			}
			return out
		}
		return s.retry(now, out)
	case Asleep:
		// [MQTT-SN 1.2 §6.14] "If the server/gateway does not receive any
		// message from the client for a period longer than the sleep
		// duration, the server/gateway will consider that client as lost"
		if !now.Before(s.lastRx.Add(tolerance(s.sleep))) {
			return s.lose(out)
		}
	case Connecting:
		if (s.phase == phaseWillTopic || s.phase == phaseWillMsg) &&
			!now.Before(s.lastRx.Add(s.dialogueTimeout())) {
			return s.abandonConnect(out)
		}
	}
	return out
}

// setState moves to st and reports the change.
func (s *Session) setState(st State, out []Effect) []Effect {
	if st == s.state {
		return out
	}
	out = append(out, Effect{Kind: EffStateChanged, From: s.state, To: st})
	s.state = st
	return out
}

// lose ends a connection whose client went silent: keep-alive or sleep
// timer expiry, or retransmissions exhausted. The gateway publishes the
// will itself. [MQTT-SN 1.2 §6.14 "activates for example the Will
// feature", §6.13]
func (s *Session) lose(out []Effect) []Effect {
	s.pause()
	if s.will.Topic != "" {
		out = append(out, Effect{
			Kind:    EffPublishWill,
			Topic:   s.will.Topic,
			Payload: s.will.Msg,
			QoS:     s.will.QoS,
			Retain:  s.will.Retain,
		})
	}
	out = s.releaseUpstream(out)
	out = s.setState(Lost, out)
	if s.clean {
		s.discard()
	}
	return out
}

// abandonConnect gives up a CONNECT whose will dialogue the client did
// not finish: no connection was established, so no will is published.
func (s *Session) abandonConnect(out []Effect) []Effect {
	s.phase = phaseNone
	out = s.closeUpstream(out)
	out = s.setState(Disconnected, out)
	if s.clean {
		s.discard()
	}
	return out
}

// releaseUpstream closes the upstream session of a client that went
// away, unless it is persistent and Config.HoldUpstream keeps it open.
func (s *Session) releaseUpstream(out []Effect) []Effect {
	if s.cfg.HoldUpstream && s.Persistent() {
		return out
	}
	return s.closeUpstream(out)
}

// closeUpstream closes the client's upstream session, or arranges for an
// opening one to be closed as soon as it is open.
func (s *Session) closeUpstream(out []Effect) []Effect {
	s.forgetUpstreamRequests()
	switch s.up {
	case upOpen:
		s.up = upClosed
		// A broker-side session opened clean is discarded anyway.
		out = append(out, Effect{Kind: EffCloseUpstream, CleanSession: s.clean || s.upClean})
	case upOpening:
		s.upWant = false
	}
	return out
}

// forgetUpstreamRequests drops the requests whose answers died with the
// upstream session: pending SUBSCRIBE/UNSUBSCRIBE (the client gets no
// SUBACK and retries after reconnecting) and client PUBLISHes not yet
// acknowledged upstream (the client retransmits them). QoS 2 exchanges
// already forwarded (PUBREC sent) are kept so that a duplicate is still
// recognised. Late answers for dropped requests are ignored.
func (s *Session) forgetUpstreamRequests() {
	s.resubLeft = 0
	clear(s.subReq)
	clear(s.unsubReq)
	for id, in := range s.inflight {
		if !in.AwaitRel {
			delete(s.inflight, id)
		}
	}
}

// discard forgets everything a clean session must not keep: will,
// subscriptions, registrations, client PUBLISHes in flight and queued
// messages. [MQTT-SN 1.2 §6.3]
func (s *Session) discard() {
	s.will = will{}
	s.reg.clear()
	clear(s.subs)
	clear(s.subReq)
	clear(s.unsubReq)
	clear(s.inflight)
	clear(s.rejected)
	s.resub, s.park = false, false
	n := s.queue.clear()
	if s.cur.active {
		n++
	}
	s.stats.Discarded += uint64(n)
	s.cur = delivery{}
	s.awakeLeft = 0
}

// nextMsgID returns the next MsgId of a gateway message, never 0.
// [MQTT-SN 1.2 §5.3.6]
func (s *Session) nextMsgID() uint16 {
	s.lastMsgID++
	if s.lastMsgID == 0 {
		s.lastMsgID = 1
	}
	return s.lastMsgID
}

// send appends an EffSend of a packet of type t and returns the packet
// to fill in.
func send(out []Effect, t mqttsn.MsgType) ([]Effect, *mqttsn.Packet) {
	out = append(out, Effect{Kind: EffSend})
	p := &out[len(out)-1].Packet
	p.Type = t
	return out, p
}

func sendType(out []Effect, t mqttsn.MsgType) []Effect {
	out, _ = send(out, t)
	return out
}

func clampQoS(q mqttsn.QoS) mqttsn.QoS {
	switch {
	case q < mqttsn.QoS0:
		return mqttsn.QoS0
	case q > mqttsn.QoS2:
		return mqttsn.QoS2
	}
	return q
}
