package bridge

import (
	"context"
	"time"
)

// Message is an MQTT application message crossing the bridge.
type Message struct {
	Topic   string
	Payload []byte // owned by the receiver once handed over; never modified after
	QoS     byte   // 0, 1 or 2 (MQTT-SN QoS -1 travels as 0)
	Retain  bool
}

// ClientInfo describes the MQTT-SN client an upstream session is opened for.
type ClientInfo struct {
	ClientID     string        // MQTT-SN ClientId (the adapter adds any prefix)
	CleanSession bool          // from the CONNECT flags
	KeepAlive    time.Duration // from the CONNECT Duration
	Username     string        // optional per-client credentials; "" = the upstream's own
	Password     string
}

// Upstream is where MQTT-SN clients' sessions live: a remote broker through
// paho.mqtt.golang (transparent or aggregating) or the embedded broker.
//
// No method blocks on the network: each takes a completion callback that is
// called exactly once, from another goroutine, and must not block (the
// gateway enqueues an event and returns). Completions of one Session's
// operations are called in the order the operations were issued.
type Upstream interface {
	// Open starts the upstream session of one client. deliver is called,
	// from another goroutine and never concurrently for one session, for
	// each message the broker sends to that session; it must not block.
	Open(info ClientInfo, deliver func(Message), done func(Session, error))
	// Run keeps the upstream's shared resources (shared connection,
	// embedded server) alive until ctx is cancelled, then closes all
	// sessions and returns nil.
	Run(ctx context.Context) error
}

// Session is one client's presence at the broker. In aggregating mode
// many Sessions share one connection.
type Session interface {
	// Publish sends m; done gets nil once the broker acknowledged it as
	// m.QoS requires (QoS 0: once handed to the connection).
	Publish(m Message, done func(error))
	// Subscribe subscribes to an MQTT topic filter at qos.
	Subscribe(filter string, qos byte, done func(granted byte, err error))
	// Unsubscribe removes a subscription of this session.
	Unsubscribe(filter string, done func(error))
	// Close ends the session. With discard, broker-side state of a
	// persistent session is discarded too (clean DISCONNECT of a
	// CleanSession client); without, it is kept for a later Open.
	Close(discard bool, done func())
}
