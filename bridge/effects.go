package bridge

import (
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/session"
)

// errNoUpstream completes an operation asked for while the client has no
// upstream session.
var errNoUpstream = errors.New("bridge: no upstream session")

// apply carries out one effect of c's session.
func (g *Gateway) apply(c *client, e *session.Effect) {
	switch e.Kind {
	case session.EffSend:
		g.sendClient(c, &e.Packet)
	case session.EffOpenUpstream:
		g.openUpstream(c, e)
	case session.EffPublish:
		g.publish(c, e)
	case session.EffSubscribe:
		g.subscribe(c, e)
	case session.EffUnsubscribe:
		g.unsubscribe(c, e)
	case session.EffPublishWill:
		g.publishWill(c, e)
	case session.EffCloseUpstream:
		g.closeUpstream(c, e.CleanSession)
	case session.EffStateChanged:
		c.log.Info().Stringer("state", e.To).Str("from", e.From.String()).Stringer("addr", c.key.addr).Msg("client state changed")
	default:
		c.log.Error().Uint8("effect", uint8(e.Kind)).Msg("unknown session effect ignored")
	}
}

func (g *Gateway) sendClient(c *client, p *mqttsn.Packet) {
	if !c.bound {
		g.stats.sendUnbound.Add(1)
		if ev := c.log.Debug(); ev.Enabled() {
			ev.Stringer("msg_type", p.Type).Msg("packet for client without address dropped")
		}
		return
	}
	g.send(&c.key, 0, p)
}

func (g *Gateway) openUpstream(c *client, e *session.Effect) {
	if c.up != nil {
		c.up.Close(false, noopDone)
		c.up = nil
	}
	c.gen++
	gen := c.gen
	info := ClientInfo{ClientID: e.ClientID, CleanSession: e.CleanSession, KeepAlive: e.KeepAlive}
	if cr, ok := g.cfg.Credentials[c.id]; ok {
		info.Username, info.Password = cr.Username, cr.Password
	}
	c.log.Debug().Bool("clean_session", e.CleanSession).Dur("keepalive", e.KeepAlive).Msg("opening upstream session")
	deliver := func(m Message) {
		if !g.q.pushMessage(upEvent{kind: upMessage, c: c, gen: gen, msg: m}) {
			g.stats.deliveriesDropped.Add(1)
			g.badLog.Warn().Str("client_id", c.id).Str("topic", m.Topic).Msg("event queue full, message dropped")
		}
	}
	done := func(s Session, err error) {
		g.q.push(upEvent{kind: upOpened, c: c, gen: gen, sess: s, err: err})
	}
	g.cfg.Upstream.Open(info, deliver, done)
}

func (g *Gateway) publish(c *client, e *session.Effect) {
	m := Message{Topic: e.Topic, Payload: clonePayload(e.Payload), QoS: upQoS(e.QoS), Retain: e.Retain}
	if c.up == nil {
		g.stats.upstreamErrors.Add(1)
		if m.QoS > 0 {
			g.q.push(upEvent{kind: upPublished, c: c, gen: c.gen, msgID: e.MsgID, err: errNoUpstream})
		}
		return
	}
	if ev := c.log.Debug(); ev.Enabled() {
		ev.Str("topic", e.Topic).Uint8("qos", m.QoS).Uint16("msg_id", e.MsgID).Int("len", len(m.Payload)).Msg("publish upstream")
	}
	if m.QoS == 0 {
		c.up.Publish(m, g.qos0Fn)
		return
	}
	gen, id := c.gen, e.MsgID
	c.up.Publish(m, func(err error) {
		g.q.push(upEvent{kind: upPublished, c: c, gen: gen, msgID: id, err: err})
	})
}

func (g *Gateway) subscribe(c *client, e *session.Effect) {
	gen, id := c.gen, e.MsgID
	if c.up == nil {
		g.q.push(upEvent{kind: upSubscribed, c: c, gen: gen, msgID: id, err: errNoUpstream})
		return
	}
	if ev := c.log.Debug(); ev.Enabled() {
		ev.Str("topic", e.Topic).Int8("qos", int8(e.QoS)).Uint16("msg_id", id).Msg("subscribe upstream")
	}
	c.up.Subscribe(e.Topic, upQoS(e.QoS), func(granted byte, err error) {
		g.q.push(upEvent{kind: upSubscribed, c: c, gen: gen, msgID: id, granted: granted, err: err})
	})
}

func (g *Gateway) unsubscribe(c *client, e *session.Effect) {
	gen, id := c.gen, e.MsgID
	if c.up == nil {
		g.q.push(upEvent{kind: upUnsubscribed, c: c, gen: gen, msgID: id, err: errNoUpstream})
		return
	}
	c.log.Debug().Str("topic", e.Topic).Uint16("msg_id", id).Msg("unsubscribe upstream")
	c.up.Unsubscribe(e.Topic, func(err error) {
		g.q.push(upEvent{kind: upUnsubscribed, c: c, gen: gen, msgID: id, err: err})
	})
}

// publishWill publishes the will of a lost client through its own
// upstream session (which is closed only once the will is acknowledged),
// or, without one, through the gateway's session. [MQTT-SN 1.2 §6.3]
func (g *Gateway) publishWill(c *client, e *session.Effect) {
	m := Message{Topic: e.Topic, Payload: clonePayload(e.Payload), QoS: upQoS(e.QoS), Retain: e.Retain}
	g.stats.wills.Add(1)
	c.log.Info().Str("topic", m.Topic).Uint8("qos", m.QoS).Bool("retain", m.Retain).Msg("publishing will")
	if c.up == nil {
		g.gwPublish(m)
		return
	}
	c.willPending++
	c.up.Publish(m, func(err error) {
		g.q.push(upEvent{kind: upWillDone, c: c, err: err})
	})
}

func (g *Gateway) closeUpstream(c *client, discard bool) {
	if c.up == nil {
		return
	}
	c.log.Debug().Bool("discard", discard).Msg("closing upstream session")
	if c.willPending > 0 {
		c.closing, c.closeDiscard = c.up, discard
		c.up = nil
		return
	}
	c.up.Close(discard, noopDone)
	c.up = nil
}

// handleUpstreamEvents feeds queued upstream callbacks to the sessions.
func (g *Gateway) handleUpstreamEvents() {
	items := g.q.take()
	now := time.Now()
	for i := range items {
		g.handleUpstream(now, &items[i])
	}
	g.q.recycle(items)
}

func (g *Gateway) handleUpstream(now time.Time, ev *upEvent) {
	c := ev.c
	switch ev.kind {
	case upGwOpened:
		g.gwOpened(ev)
		return
	case upWillDone:
		g.willDone(c, ev.err)
		return
	}
	if c.dropped || ev.gen != c.gen {
		g.stats.staleEvents.Add(1)
		if ev.kind == upOpened && ev.sess != nil {
			ev.sess.Close(c.dropped, noopDone)
		}
		return
	}
	if ev.err != nil {
		g.stats.upstreamErrors.Add(1)
	}
	switch ev.kind {
	case upOpened:
		if ev.err != nil {
			c.log.Warn().Err(ev.err).Msg("upstream session not opened")
		} else {
			c.up = ev.sess
		}
		g.step(c, now, session.Event{Kind: session.EvUpstreamOpened, Err: ev.err})
	case upPublished:
		g.step(c, now, session.Event{Kind: session.EvPublished, MsgID: ev.msgID, Err: ev.err})
	case upSubscribed:
		g.step(c, now, session.Event{Kind: session.EvSubscribed, MsgID: ev.msgID, Granted: mqttsn.QoS(ev.granted), Err: ev.err})
	case upUnsubscribed:
		g.step(c, now, session.Event{Kind: session.EvUnsubscribed, MsgID: ev.msgID, Err: ev.err})
	case upMessage:
		m := &ev.msg
		g.step(c, now, session.Event{Kind: session.EvMessage, Topic: m.Topic, Payload: m.Payload, QoS: mqttsn.QoS(m.QoS), Retain: m.Retain})
	}
}

func (g *Gateway) willDone(c *client, err error) {
	if err != nil {
		g.stats.upstreamErrors.Add(1)
		c.log.Warn().Err(err).Msg("will not published")
	}
	c.willPending--
	if c.willPending == 0 && c.closing != nil {
		c.closing.Close(c.closeDiscard, noopDone)
		c.closing = nil
	}
}

func (g *Gateway) qos0Done(err error) {
	if err != nil {
		g.stats.upstreamErrors.Add(1)
	}
}

func upQoS(q mqttsn.QoS) byte {
	if q <= 0 {
		return 0
	}
	return byte(q)
}

// clonePayload copies a payload that aliases a packet buffer; the copy is
// handed to the upstream, which owns it from then on.
func clonePayload(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// packetFields adds to a per-packet debug line (ev must be enabled: the
// fields cost a map lookup and formatting) the packet's type, the address,
// the client_id of the session at key (or of a CONNECT), and msg_id,
// topic_id, qos and topic where the packet carries them. qos is always a
// number (-1..2), as in every other line.
func (g *Gateway) packetFields(ev *zerolog.Event, key *clientKey, p *mqttsn.Packet) *zerolog.Event {
	ev.Stringer("addr", key.addr).Stringer("msg_type", p.Type).Bool("encapsulated", key.encap)
	if c := g.byKey[*key]; c != nil {
		ev.Str("client_id", c.id)
	} else if p.Type == mqttsn.TypeConnect {
		ev.Bytes("client_id", p.Connect.ClientID)
	}
	switch p.Type {
	case mqttsn.TypePublish:
		m := &p.Publish
		ev.Uint16("topic_id", m.TopicID).Uint16("msg_id", m.MsgID).Int8("qos", int8(m.Flags.QoS)).Int("len", len(m.Data))
	case mqttsn.TypePuback:
		ev.Uint16("topic_id", p.Puback.TopicID).Uint16("msg_id", p.Puback.MsgID).Stringer("return_code", p.Puback.ReturnCode)
	case mqttsn.TypeRegister:
		ev.Uint16("topic_id", p.Register.TopicID).Uint16("msg_id", p.Register.MsgID).Bytes("topic", p.Register.TopicName)
	case mqttsn.TypeRegack:
		ev.Uint16("topic_id", p.Regack.TopicID).Uint16("msg_id", p.Regack.MsgID).Stringer("return_code", p.Regack.ReturnCode)
	case mqttsn.TypePubrec:
		ev.Uint16("msg_id", p.Pubrec.MsgID)
	case mqttsn.TypePubrel:
		ev.Uint16("msg_id", p.Pubrel.MsgID)
	case mqttsn.TypePubcomp:
		ev.Uint16("msg_id", p.Pubcomp.MsgID)
	case mqttsn.TypeSubscribe:
		m := &p.Subscribe
		ev.Uint16("msg_id", m.MsgID).Int8("qos", int8(m.Flags.QoS))
		if m.Flags.TopicIDType == mqttsn.TopicIDNormal {
			ev.Bytes("topic", m.TopicName)
		} else {
			ev.Uint16("topic_id", m.TopicID)
		}
	case mqttsn.TypeSuback:
		m := &p.Suback
		ev.Uint16("topic_id", m.TopicID).Uint16("msg_id", m.MsgID).Int8("qos", int8(m.Flags.QoS)).Stringer("return_code", m.ReturnCode)
	case mqttsn.TypeUnsubscribe:
		m := &p.Unsubscribe
		ev.Uint16("msg_id", m.MsgID)
		if m.Flags.TopicIDType == mqttsn.TopicIDNormal {
			ev.Bytes("topic", m.TopicName)
		} else {
			ev.Uint16("topic_id", m.TopicID)
		}
	case mqttsn.TypeUnsuback:
		ev.Uint16("msg_id", p.Unsuback.MsgID)
	case mqttsn.TypeConnack:
		ev.Stringer("return_code", p.Connack.ReturnCode)
	}
	return ev
}
