package bridge

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/session"
)

// client is one MQTT-SN client session and where it is reached. It is
// owned by the loop goroutine.
type client struct {
	id  string
	s   *session.Session
	log zerolog.Logger

	key     clientKey // current address; meaningful when bound
	bound   bool      // key maps to this client in Gateway.byKey
	dropped bool      // removed from the gateway; late events are stale

	gen          uint32  // generation of the upstream session (each Open)
	up           Session // nil until opened, after close
	closing      Session // closed once the pending wills are done
	closeDiscard bool
	willPending  int

	hidx     int // index in Gateway.timers, -1 when absent
	deadline time.Time

	ps    clientPersist // state store bookkeeping (persist.go)
	drops dropSeen      // session drop counters already counted (drops.go)
}

// handleInbound routes one parsed datagram and hands its buffer back.
func (g *Gateway) handleInbound(ib *inbound) {
	p := &ib.pkt
	if ev := g.log.Debug(); ev.Enabled() {
		g.packetFields(ev, &ib.key, p).Msg("packet received")
	}
	switch p.Type {
	case mqttsn.TypeSearchGW:
		g.searchGW(ib)
	case mqttsn.TypeAdvertise, mqttsn.TypeGWInfo:
		// Other gateways advertising, or clients answering a SEARCHGW on
		// a gateway's behalf: nothing for this gateway. [MQTT-SN 1.2 §6.1]
		g.stats.ignored.Add(1)
	case mqttsn.TypeConnect:
		g.connect(ib)
	default:
		if p.Type == mqttsn.TypePublish && p.Publish.Flags.QoS == mqttsn.QoSMinus1 {
			g.publishMinus1(ib)
			break
		}
		if p.Type == mqttsn.TypePingreq && len(p.Pingreq.ClientID) > 0 {
			g.pingreqWithID(ib)
			break
		}
		c := g.byKey[ib.key]
		if c == nil {
			g.unknownClient(ib)
			break
		}
		g.step(c, time.Now(), session.Event{Kind: session.EvPacket, Packet: p})
	}
	ib.release()
}

// connect finds or creates the session of a CONNECT's ClientId and moves
// it to the sender's address. [MQTT-SN 1.2 §6.2]
func (g *Gateway) connect(ib *inbound) {
	if ib.badConnect {
		// [MQTT-SN 1.2 §5.3.1, §5.3.8] a ClientId outside 1..23 octets or
		// another protocol version: refused as not supported.
		g.stats.clientsRejected.Add(1)
		g.sendConnack(ib, mqttsn.RejectedNotSupported)
		return
	}
	id := ib.pkt.Connect.ClientID
	c := g.byID[string(id)]
	if c == nil {
		switch {
		case len(id) == 0 || string(id) == g.gwCID:
			// An empty ClientId cannot name a session, and the gateway's
			// own upstream client id is reserved.
			g.sendConnack(ib, mqttsn.RejectedNotSupported)
			return
		case len(g.byID) >= g.cfg.MaxClients:
			g.stats.clientsRejected.Add(1)
			g.log.Warn().Bytes("client_id", id).Stringer("addr", ib.key.addr).Int("max_clients", g.cfg.MaxClients).Msg("client refused: too many clients")
			g.sendConnack(ib, mqttsn.RejectedCongestion)
			return
		}
		c = g.newClient(string(id), &ib.key)
	}
	g.bind(c, &ib.key)
	g.step(c, time.Now(), session.Event{Kind: session.EvPacket, Packet: &ib.pkt})
}

// pingreqWithID serves a PINGREQ that names its ClientId: a sleeping
// client waking up, possibly from a new address. [MQTT-SN 1.2 §6.14]
func (g *Gateway) pingreqWithID(ib *inbound) {
	c := g.byID[string(ib.pkt.Pingreq.ClientID)]
	if c == nil {
		g.unknownClient(ib)
		return
	}
	g.bind(c, &ib.key)
	g.step(c, time.Now(), session.Event{Kind: session.EvPacket, Packet: &ib.pkt})
}

// unknownClient answers a packet from an address without a session with
// an unsolicited DISCONNECT, so that the client connects again.
// [MQTT-SN 1.2 §6.12] A DISCONNECT is not answered: two gateways
// pointed at each other would otherwise ping-pong forever.
func (g *Gateway) unknownClient(ib *inbound) {
	g.stats.unknownClient.Add(1)
	if ev := g.log.Debug(); ev.Enabled() {
		ev.Stringer("addr", ib.key.addr).Stringer("msg_type", ib.pkt.Type).Msg("packet from unknown client")
	}
	if ib.pkt.Type == mqttsn.TypeDisconnect {
		return
	}
	g.reply = mqttsn.Packet{Type: mqttsn.TypeDisconnect}
	g.send(&ib.key, 0, &g.reply)
}

func (g *Gateway) sendConnack(ib *inbound, rc mqttsn.ReturnCode) {
	g.reply = mqttsn.Packet{Type: mqttsn.TypeConnack, Connack: mqttsn.Connack{ReturnCode: rc}}
	g.send(&ib.key, 0, &g.reply)
}

func (g *Gateway) newClient(id string, key *clientKey) *client {
	cfg := g.cfg.Session
	cfg.Predefined = g.predefFor(id)
	cfg.MaxPacket = g.maxPacket(key)
	c := &client{
		id:   id,
		s:    session.New(cfg),
		log:  g.log.With().Str("client_id", id).Logger(),
		hidx: -1,
	}
	g.byID[id] = c
	g.stats.sessions.Add(1)
	g.stats.sessionsOpened.Add(1)
	return c
}

// maxPacket is the longest MQTT-SN message the client at key can be
// sent: its transport's MaxPayload, less the Forwarder Encapsulation
// header when it is behind a forwarder. [MQTT-SN 1.2 §5.5]
func (g *Gateway) maxPacket(key *clientKey) int {
	n := g.cfg.Transports[key.tr].MaxPayload()
	if n <= 0 {
		return 0 // the session's default
	}
	if key.encap {
		n -= 3 + int(key.node.n)
	}
	return max(n, 1)
}

// bind makes key the address of c. A client previously at key loses its
// address (it is then lost by keepalive supervision unless it comes back);
// the previous address of c is forgotten.
func (g *Gateway) bind(c *client, key *clientKey) {
	if c.bound && c.key == *key {
		return
	}
	if old := g.byKey[*key]; old != nil && old != c {
		old.log.Info().Stringer("addr", key.addr).Msg("address taken by another client")
		g.unbind(old)
	}
	if c.bound {
		g.stats.sessionsTakenOver.Add(1)
		c.log.Info().Stringer("addr", key.addr).Msg("session moved to new address")
		delete(g.byKey, c.key)
	}
	c.key = *key
	c.bound = true
	g.byKey[c.key] = c
}

func (g *Gateway) unbind(c *client) {
	if c.bound && g.byKey[c.key] == c {
		delete(g.byKey, c.key)
	}
	c.bound = false
}

// step feeds one event to c's session and carries out its effects.
func (g *Gateway) step(c *client, now time.Time, ev session.Event) {
	g.effs = c.s.Step(now, ev, g.effs[:0])
	for i := range g.effs {
		g.apply(c, &g.effs[i])
	}
	clear(g.effs) // drop references into packet buffers and payloads
	g.noteDrops(c)
	g.afterStep(c)
}

// afterStep forgets the address of a session that is disconnected or
// lost, drops it unless it is persistent, and reschedules its timer.
func (g *Gateway) afterStep(c *client) {
	if c.dropped {
		return
	}
	if st := c.s.State(); st == session.Disconnected || st == session.Lost {
		g.unbind(c)
		if !c.s.Persistent() {
			g.drop(c)
			return
		}
	}
	g.markDirty(c)
	g.schedule(c)
}

// drop removes c from the gateway.
func (g *Gateway) drop(c *client) {
	c.dropped = true
	g.unbind(c)
	if g.byID[c.id] == c {
		delete(g.byID, c.id)
	}
	g.schedule(c)
	if c.up != nil {
		c.up.Close(true, noopDone)
		c.up = nil
	}
	g.stats.sessions.Add(-1)
	g.stats.sessionsDropped.Add(1)
	g.markDirty(c)
	c.log.Debug().Msg("session dropped")
}
