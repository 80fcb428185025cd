package bridge

import "github.com/snbridge/snbridge/mqttsn/session"

// dropSeen is the part of a session's drop counters (session.Stats) that
// the gateway has already counted and logged.
type dropSeen struct {
	overflow, notBuffered, tooLarge uint64
}

// seenDrops returns s's drop counters as they are now: the baseline of a
// new or restored session.
func seenDrops(s *session.Session) dropSeen {
	st := s.Stats()
	return dropSeen{overflow: st.Overflow, notBuffered: st.NotBuffered, tooLarge: st.TooLarge}
}

// noteDrops counts and logs (sampled) the messages towards c that its
// session dropped in the last Step: sleep buffer or queue overflow, QoS 0
// not buffered for a sleeping client, and messages too large for the
// client's transport. It costs a few compares when nothing was dropped.
func (g *Gateway) noteDrops(c *client) {
	st := c.s.Stats()
	d := &c.drops
	if st.Overflow == d.overflow && st.NotBuffered == d.notBuffered && st.TooLarge == d.tooLarge {
		return
	}
	g.noteDropsSlow(c, &st)
}

func (g *Gateway) noteDropsSlow(c *client, st *session.Stats) {
	d := &c.drops
	state := c.s.State()
	if n := st.Overflow - d.overflow; n > 0 {
		g.stats.bufferOverflow.Add(n)
		limit, what := g.cfg.Session.WithDefaults().MaxQueue, "max_queue"
		if state == session.Asleep || state == session.Awake {
			limit, what = g.cfg.Session.WithDefaults().SleepBuffer, "sleep_buffer"
		}
		// [MQTT-SN 1.2 §6.14] messages for a sleeping client are buffered;
		// the buffer is bounded and drops the oldest.
		g.badLog.Warn().Str("client_id", c.id).Stringer("state", state).Uint64("overflow", n).
			Uint64("overflow_total", st.Overflow).Int(what, limit).
			Msg("buffer full: oldest messages for the client dropped")
	}
	if n := st.NotBuffered - d.notBuffered; n > 0 {
		g.stats.notBuffered.Add(n)
		if ev := g.log.Debug(); ev.Enabled() {
			ev.Str("client_id", c.id).Stringer("state", state).Uint64("not_buffered", n).
				Msg("QoS 0 messages for a sleeping client not buffered")
		}
	}
	if n := st.TooLarge - d.tooLarge; n > 0 {
		g.stats.deliveriesTooLarge.Add(n)
		topic, length := c.s.LastTooLarge()
		// [MQTT-SN 1.2 §6.10] the gateway aborts the publish procedure.
		g.badLog.Warn().Str("client_id", c.id).Str("topic", topic).Int("len", length).
			Int("max_packet", c.s.MaxPacket()).Uint64("dropped", n).
			Msg("message too large for the client's transport, not delivered")
	}
	*d = dropSeen{overflow: st.Overflow, notBuffered: st.NotBuffered, tooLarge: st.TooLarge}
}
