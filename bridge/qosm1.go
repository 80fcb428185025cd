package bridge

import (
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// The gateway's own upstream session carries QoS -1 publishes (and wills
// of clients that have no upstream session). It is opened on first use;
// while it opens, up to gwQueueMax messages wait; when it cannot be
// opened, messages are dropped and opening is retried with back-off.
const (
	gwQueueMax     = 256
	gwRetryMin     = time.Second
	gwRetryMax     = time.Minute
	gwKeepAlive    = 60 * time.Second
	gwStateNone    = 0
	gwStateOpening = 1
	gwStateOpen    = 2
	gwStateFailed  = 3
)

type gwSession struct {
	state   int
	gen     uint32
	sess    Session
	queue   []Message
	retryAt time.Time
	backoff time.Duration
}

// publishMinus1 forwards a QoS -1 PUBLISH at QoS 0 through the gateway's
// session. Only predefined topic ids and short topic names are allowed;
// the predefined table is that of the client at the sender's address when
// there is one, the global table otherwise. [MQTT-SN 1.2 §6.8]
func (g *Gateway) publishMinus1(ib *inbound) {
	pub := &ib.pkt.Publish
	var topic string
	switch pub.Flags.TopicIDType {
	case mqttsn.TopicIDPredefined:
		table := g.global
		if c := g.byKey[ib.key]; c != nil {
			table = g.predefFor(c.id)
		}
		name, ok := table.Topic(pub.TopicID)
		if !ok {
			g.dropMinus1(ib, "unknown predefined topic id")
			return
		}
		topic = name
	case mqttsn.TopicIDShort:
		topic = string([]byte{byte(pub.TopicID >> 8), byte(pub.TopicID)})
	default:
		g.dropMinus1(ib, "QoS -1 needs a predefined id or short name")
		return
	}
	g.stats.qosM1In.Add(1)
	if ev := g.log.Debug(); ev.Enabled() {
		ev.Stringer("addr", ib.key.addr).Str("topic", topic).Uint16("topic_id", pub.TopicID).Int("len", len(pub.Data)).Msg("QoS -1 publish")
	}
	g.gwPublish(Message{Topic: topic, Payload: clonePayload(pub.Data), Retain: pub.Flags.Retain})
}

func (g *Gateway) dropMinus1(ib *inbound, why string) {
	g.stats.qosM1Dropped.Add(1)
	g.badLog.Warn().Stringer("addr", ib.key.addr).Uint16("topic_id", ib.pkt.Publish.TopicID).
		Stringer("topic_id_type", ib.pkt.Publish.Flags.TopicIDType).Str("reason", why).Msg("QoS -1 publish dropped")
}

// gwPublish publishes m through the gateway's session, opening it first
// when needed.
func (g *Gateway) gwPublish(m Message) {
	gw := &g.gw
	switch gw.state {
	case gwStateOpen:
		gw.sess.Publish(m, g.qos0Fn)
		return
	case gwStateFailed:
		if time.Now().Before(gw.retryAt) {
			g.stats.qosM1Dropped.Add(1)
			return
		}
		g.gwOpen()
	case gwStateNone:
		g.gwOpen()
	}
	if len(gw.queue) >= gwQueueMax {
		g.stats.qosM1Dropped.Add(1)
		return
	}
	gw.queue = append(gw.queue, m)
}

func (g *Gateway) gwOpen() {
	gw := &g.gw
	gw.state = gwStateOpening
	gw.gen++
	gen := gw.gen
	g.log.Info().Str("upstream_client_id", g.gwCID).Msg("opening gateway upstream session")
	g.cfg.Upstream.Open(ClientInfo{ClientID: g.gwCID, CleanSession: true, KeepAlive: gwKeepAlive},
		noopMessage,
		func(s Session, err error) { g.q.push(upEvent{kind: upGwOpened, gen: gen, sess: s, err: err}) })
}

func (g *Gateway) gwOpened(ev *upEvent) {
	gw := &g.gw
	if ev.gen != gw.gen || gw.state != gwStateOpening {
		g.stats.staleEvents.Add(1)
		if ev.sess != nil {
			ev.sess.Close(true, noopDone)
		}
		return
	}
	if ev.err != nil {
		gw.backoff = min(max(gw.backoff*2, gwRetryMin), gwRetryMax)
		gw.state, gw.retryAt = gwStateFailed, time.Now().Add(gw.backoff)
		g.stats.upstreamErrors.Add(1)
		g.stats.qosM1Dropped.Add(uint64(len(gw.queue)))
		clear(gw.queue)
		gw.queue = gw.queue[:0]
		g.log.Warn().Err(ev.err).Dur("retry_in", gw.backoff).Msg("gateway upstream session not opened")
		return
	}
	gw.state, gw.sess, gw.backoff = gwStateOpen, ev.sess, 0
	g.log.Info().Msg("gateway upstream session open")
	for i, m := range gw.queue {
		gw.sess.Publish(m, g.qos0Fn)
		gw.queue[i] = Message{}
	}
	gw.queue = gw.queue[:0]
}

func (gw *gwSession) close() {
	if gw.sess != nil {
		gw.sess.Close(true, noopDone)
		gw.sess = nil
	}
	gw.state = gwStateNone
}
