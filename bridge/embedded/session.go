package embedded

import (
	"fmt"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/snbridge/snbridge/bridge"
)

// client is the broker-side session of one client id. It outlives a
// [handle] when it is persistent (CleanSession=false). Worker-owned.
type client struct {
	id         string
	persistent bool
	subs       map[string]*sub
	h          *handle          // nil while detached
	pending    []bridge.Message // QoS>0 messages kept while detached
}

// sub is one inline subscription of a client.
type sub struct {
	c      *client
	filter string
	id     int  // mochi inline subscription id, unique per broker
	qos    byte // granted; worker-owned
	// live is false while the subscription is being (re)made: the worker
	// hands out the retained messages itself then, so that they carry the
	// retain flag and live messages do not.
	live    atomic.Bool
	removed atomic.Bool
}

// handle is the [bridge.Session] given to the gateway.
type handle struct {
	b       *Broker
	c       *client
	deliver func(bridge.Message)
	closed  bool // worker-owned
}

var _ bridge.Upstream = (*Broker)(nil)
var _ bridge.Session = (*handle)(nil)

// Publish implements [bridge.Session].
func (h *handle) Publish(m bridge.Message, done func(error)) {
	h.b.enqueue(item{kind: opPublish, h: h, msg: m, done: bridge.Completion{Err: done}})
}

// Subscribe implements [bridge.Session].
func (h *handle) Subscribe(filter string, qos byte, done func(byte, error)) {
	h.b.enqueue(item{kind: opSubscribe, h: h, filter: filter, qos: qos, done: bridge.Completion{Sub: done}})
}

// Unsubscribe implements [bridge.Session].
func (h *handle) Unsubscribe(filter string, done func(error)) {
	h.b.enqueue(item{kind: opUnsubscribe, h: h, filter: filter, done: bridge.Completion{Err: done}})
}

// Close implements [bridge.Session].
func (h *handle) Close(discard bool, done func()) {
	h.b.enqueue(item{kind: opClose, h: h, discard: discard, done: bridge.Completion{Close: done}})
}

// open attaches a handle to the client id, taking over an attached one and
// resuming a persistent session unless info.CleanSession.
func (b *Broker) open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	c := b.clients[info.ClientID]
	if c != nil && c.h != nil {
		b.log.Info().Str("client_id", c.id).Msg("session taken over")
		c.h.closed = true
		c.h = nil
	}
	resumed := c != nil && c.persistent && !info.CleanSession
	if c != nil && !resumed {
		b.discard(c)
		c = nil
	}
	if c == nil {
		c = &client{id: info.ClientID, subs: make(map[string]*sub)}
		b.clients[c.id] = c
	}
	c.persistent = !info.CleanSession
	h := &handle{b: b, c: c, deliver: deliver}
	c.h = h
	b.log.Debug().Str("client_id", c.id).Bool("resumed", resumed).Msg("session opened")
	done(h, nil)
	pending := c.pending
	c.pending = nil
	for _, m := range pending {
		deliver(m)
	}
}

func (b *Broker) publish(m bridge.Message) error {
	if m.Topic == "" || !mqtt.IsValidFilter(m.Topic, true) {
		return fmt.Errorf("embedded: publish %q: %w", m.Topic, packets.ErrTopicNameInvalid)
	}
	if m.QoS > 2 {
		return fmt.Errorf("embedded: publish %q: invalid qos %d", m.Topic, m.QoS)
	}
	// The inline client's publish is complete when Publish returns: mochi
	// runs no QoS handshake for it.
	if err := b.srv.Publish(m.Topic, m.Payload, m.Retain, m.QoS); err != nil {
		return fmt.Errorf("embedded: publish %q: %w", m.Topic, err)
	}
	return nil
}

// subscribe makes or replaces a subscription, completes it, then hands the
// retained messages matching the filter to the session with the retain
// flag. [MQTT 3.1.1 §3.8.4]
func (b *Broker) subscribe(h *handle, filter string, qos byte, done func(byte, error)) {
	if qos > 2 {
		done(0x80, fmt.Errorf("embedded: subscribe %q: invalid qos %d", filter, qos))
		return
	}
	c := h.c
	s := c.subs[filter]
	if s == nil {
		s = &sub{c: c, filter: filter, id: int(b.nextID.Add(1))}
	}
	s.qos = qos
	s.live.Store(false)
	if err := b.srv.Subscribe(filter, s.id, b.handler(s)); err != nil {
		done(0x80, fmt.Errorf("embedded: subscribe %q: %w", filter, err))
		return
	}
	c.subs[filter] = s
	s.live.Store(true)
	b.log.Debug().Str("client_id", c.id).Str("topic", filter).Uint8("qos", qos).Msg("subscribed")
	done(qos, nil)
	for _, pk := range b.srv.Topics.Messages(filter) {
		b.deliver(s, message(pk), true)
	}
}

// handler returns mochi's callback for s. It runs on mochi's goroutines
// (or on the worker, during publish) and only queues.
func (b *Broker) handler(s *sub) mqtt.InlineSubFn {
	return func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if s.removed.Load() || (!s.live.Load() && pk.FixedHeader.Retain) {
			return
		}
		b.enqueueDelivery(s, message(pk))
	}
}

func message(pk packets.Packet) bridge.Message {
	return bridge.Message{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos}
}

// deliver hands m to the session of s, capped at the granted QoS; retain
// is set only for retained messages sent on subscribe. [MQTT 3.1.1 §3.3.1.3]
func (b *Broker) deliver(s *sub, m bridge.Message, retained bool) {
	if s.removed.Load() {
		return
	}
	m.QoS = min(m.QoS, s.qos)
	m.Retain = retained
	c := s.c
	switch {
	case c.h != nil:
		c.h.deliver(m)
	case m.QoS > 0:
		if len(c.pending) >= b.cfg.MaxPending {
			c.pending = c.pending[1:]
			b.dropped.Add(1)
			b.log.Warn().Str("client_id", c.id).Str("topic", m.Topic).Msg("detached session buffer full, oldest message dropped")
		}
		c.pending = append(c.pending, m)
	}
}

func (b *Broker) unsubscribe(c *client, filter string) {
	s := c.subs[filter]
	if s == nil {
		return // [MQTT 3.1.1 §3.10.4]: UNSUBACK even when nothing matched
	}
	s.removed.Store(true)
	delete(c.subs, filter)
	if err := b.srv.Unsubscribe(filter, s.id); err != nil {
		b.log.Warn().Err(err).Str("client_id", c.id).Str("topic", filter).Msg("inline unsubscribe failed")
	}
}

// close ends h. A persistent session stays detached unless discard.
func (b *Broker) close(h *handle, discard bool) {
	h.closed = true
	c := h.c
	c.h = nil
	if discard || !c.persistent {
		b.discard(c)
		return
	}
	b.log.Debug().Str("client_id", c.id).Msg("session detached")
}

// discard removes c and its subscriptions.
func (b *Broker) discard(c *client) {
	for f := range c.subs {
		b.unsubscribe(c, f)
	}
	c.pending = nil
	if b.clients[c.id] == c {
		delete(b.clients, c.id)
	}
}

// closeAll ends every session when the broker stops.
func (b *Broker) closeAll() {
	for _, c := range b.clients {
		if c.h != nil {
			c.h.closed = true
		}
		b.discard(c)
	}
}
