package session

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// State is a client's state as the gateway sees it. [MQTT-SN 1.2 §6.14, Fig. 4]
type State uint8

// Client states. Connecting is the gateway's own: CONNECT seen, will
// dialogue or upstream session still pending, CONNACK not yet sent.
const (
	Disconnected State = iota
	Connecting
	Active
	Asleep
	Awake
	Lost
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Active:
		return "active"
	case Asleep:
		return "asleep"
	case Awake:
		return "awake"
	case Lost:
		return "lost"
	}
	return "unknown"
}

// Config is the behaviour shared by all sessions of one gateway. It maps
// onto the [gateway] section of the TOML config.
type Config struct {
	RetryInterval time.Duration // T_retry [MQTT-SN 1.2 §6.13]; default 10s
	RetryCount    int           // N_retry; default 3
	SleepBuffer   int           // messages buffered per sleeping client; default 100
	BufferQoS0    bool          // buffer QoS 0 messages for sleeping clients too
	MaxTopics     int           // registered topic ids per client; default 1000
	MaxInflight   int           // client PUBLISHes (QoS 1/2) awaiting the upstream or PUBREL, and pending SUBSCRIBEs; default 32
	MaxQueue      int           // messages queued towards an awake/active client; default 1000
	// MaxPacket is the largest MQTT-SN message the client's transport
	// carries (transport.Conn.MaxPayload); a message whose REGISTER or
	// PUBLISH would be longer is dropped [MQTT-SN 1.2 §6.10]. 0 = 65535.
	// (Added by the session package; additive.)
	MaxPacket int
	// Predefined resolves predefined topic ids for this client (global
	// table plus the client's own entries). Nil means none.
	Predefined Predefined
	// HoldUpstream keeps the upstream session of a persistent
	// (CleanSession=false) client open while it is disconnected or lost,
	// so that messages for it are queued in the Session (bounded by
	// MaxQueue, and saved with its Snapshot) rather than in a broker
	// that does not keep sessions across a restart of the gateway (the
	// embedded one). (Added with persistence; additive.)
	HoldUpstream bool
}

// Predefined is the table of predefined topic ids that applies to one
// client. [MQTT-SN 1.2 §6.7]
type Predefined interface {
	Topic(id uint16) (name string, ok bool)
	ID(name string) (id uint16, ok bool)
}

// EventKind selects the meaning of an [Event].
type EventKind uint8

// Event kinds.
const (
	// EvPacket: Packet is a message from the client (never Encapsulated:
	// the gateway unwraps Forwarder Encapsulation first).
	EvPacket EventKind = iota + 1
	// EvUpstreamOpened: the upstream session asked for by EffOpenUpstream is
	// up (Err nil) or could not be opened.
	EvUpstreamOpened
	// EvPublished: the upstream acknowledged (or failed) the client PUBLISH
	// with MsgID, as its QoS requires.
	EvPublished
	// EvSubscribed: the upstream answered the SUBSCRIBE with MsgID with the
	// Granted QoS, or Err.
	EvSubscribed
	// EvUnsubscribed: the upstream answered the UNSUBSCRIBE with MsgID.
	EvUnsubscribed
	// EvMessage: a message from the broker for this client (Topic, Payload,
	// QoS, Retain). Payload must not be modified afterwards.
	EvMessage
	// EvTick: time has reached NextDeadline; only now matters.
	EvTick
	// EvRestored: the first event of a Session made by [Restore]; it
	// restarts the timers from now and yields the EffOpenUpstream that
	// re-opens the client's upstream session. (Added with persistence;
	// additive.)
	EvRestored
)

// Event is an input to [Session.Step]. Only the fields of its Kind are read.
type Event struct {
	Kind    EventKind
	Packet  *mqttsn.Packet // EvPacket; aliases the caller's buffer for the duration of Step
	MsgID   uint16         // EvPublished, EvSubscribed, EvUnsubscribed
	Err     error          // EvUpstreamOpened, EvPublished, EvSubscribed, EvUnsubscribed
	Granted mqttsn.QoS     // EvSubscribed
	Topic   string         // EvMessage
	Payload []byte         // EvMessage
	QoS     mqttsn.QoS     // EvMessage
	Retain  bool           // EvMessage
	// Kept (EvRestored): the upstream kept the client's persistent
	// broker session, with its subscriptions, across the gateway's
	// restart (a remote broker); a restored persistent session that is
	// not asleep then leaves it alone until the client reconnects.
	// (Added with persistence; additive.)
	Kept bool
}

// EffectKind selects the meaning of an [Effect].
type EffectKind uint8

// Effect kinds.
const (
	// EffSend: send Packet to the client.
	EffSend EffectKind = iota + 1
	// EffOpenUpstream: open this client's upstream session (ClientID,
	// CleanSession, KeepAlive); answer with EvUpstreamOpened.
	EffOpenUpstream
	// EffPublish: publish Topic/Payload/QoS/Retain upstream; for QoS 1 and 2
	// answer with EvPublished carrying MsgID.
	EffPublish
	// EffSubscribe: subscribe to Topic (a filter) at QoS; answer with
	// EvSubscribed carrying MsgID.
	EffSubscribe
	// EffUnsubscribe: unsubscribe from Topic; answer with EvUnsubscribed.
	EffUnsubscribe
	// EffPublishWill: the client is lost; publish its will (Topic, Payload,
	// QoS, Retain) upstream.
	EffPublishWill
	// EffCloseUpstream: close the upstream session. CleanSession says
	// whether broker-side state is to be discarded.
	EffCloseUpstream
	// EffStateChanged: the client moved from From to To (for logs and
	// metrics; the gateway drops a session whose To is Disconnected or Lost
	// unless it is persistent).
	EffStateChanged
)

// Effect is an output of [Session.Step] for the caller to carry out, in
// order. Byte slices in an Effect stay valid until the next call to Step on
// the same Session, with one exception: the Payload of an EffPublish made
// from a client PUBLISH (and any Packet byte slice taken from the event)
// aliases the Event's Packet buffer, so copy it before reusing that
// buffer. Will payloads and delivered message payloads are never
// modified in place by the Session.
type Effect struct {
	Kind         EffectKind
	Packet       mqttsn.Packet // EffSend
	ClientID     string        // EffOpenUpstream
	CleanSession bool          // EffOpenUpstream, EffCloseUpstream
	KeepAlive    time.Duration // EffOpenUpstream
	MsgID        uint16        // EffPublish, EffSubscribe, EffUnsubscribe
	Topic        string        // EffPublish, EffSubscribe, EffUnsubscribe, EffPublishWill
	Payload      []byte        // EffPublish, EffPublishWill
	QoS          mqttsn.QoS    // EffPublish, EffSubscribe, EffPublishWill
	Retain       bool          // EffPublish, EffPublishWill
	From, To     State         // EffStateChanged
}
