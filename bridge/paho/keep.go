package paho

import (
	"github.com/snbridge/snbridge/bridge"
)

// Persistent sessions in aggregating mode. The shared connection has a
// clean session, so the broker keeps nothing per MQTT-SN client: the
// aggregator keeps it. A client's [aclient] holds its subscriptions;
// handles ([asession]) attach to it on Open and detach on Close. A
// persistent client (CleanSession=false) closed without discard stays in
// a.clients with its references on the shared subscriptions, and keeps
// its QoS 1 and 2 messages (at most Config.MaxPending, oldest dropped)
// until the next Open of its client id, which resumes it, or until a
// clean Open or Close(true) discards it. [MQTT 3.1.1 §3.1.2.4]

// attach completes a successful Open on the completer: it takes over a
// handle still attached to the client id, resumes a persistent session
// unless h.clean (otherwise discards it), calls done and then hands h the
// messages kept while the session was detached, in order, before any live
// one.
func (a *aggregator) attach(h *asession, done func(bridge.Session, error)) {
	var gone []string
	a.mu.Lock()
	c := a.clients[h.id]
	if c != nil && c.h != nil {
		a.u.log.Info().Str("client_id", h.id).Msg("session taken over")
		c.h.closed.Store(true)
		c.dmu.Lock()
		c.h = nil // until h attaches, QoS 1 and 2 messages are kept
		c.dmu.Unlock()
	}
	resumed := c != nil && c.persistent && !h.clean
	if c != nil && !resumed {
		gone = a.discardLocked(c)
		c = nil
	}
	if c == nil {
		c = &aclient{id: h.id, persistent: !h.clean, subs: make(map[string]struct{})}
		a.clients[h.id] = c
	}
	h.c = c
	a.mu.Unlock()
	a.unsubscribe(gone)

	c.dmu.Lock()
	c.h = h
	kept := c.pending.take()
	done(h, nil)
	for _, m := range kept {
		h.deliver(m)
	}
	c.dmu.Unlock()
	if ev := a.u.log.Debug(); ev.Enabled() {
		ev.Str("client_id", h.id).Bool("resumed", resumed).Int("kept", len(kept)).Msg("session opened")
	}
}

// close ends h on the completer. A persistent session closed without
// discard is detached and kept; otherwise it is discarded. A handle taken
// over by a later Open is closed already and changes nothing.
func (a *aggregator) close(h *asession, discard bool) {
	h.closed.Store(true)
	c := h.c
	var gone []string
	a.mu.Lock()
	if c != nil && c.h == h {
		if discard || !c.persistent {
			gone = a.discardLocked(c)
		} else {
			c.dmu.Lock()
			c.h = nil
			c.dmu.Unlock()
			a.u.log.Debug().Str("client_id", c.id).Int("filters", len(c.subs)).Msg("session kept")
		}
	}
	a.mu.Unlock()
	a.unsubscribe(gone)
}

// discardLocked releases c's subscriptions, forgets c and returns the
// filters nobody uses any more, to unsubscribe upstream (not holding a.mu).
func (a *aggregator) discardLocked(c *aclient) []string {
	var gone []string
	for f := range c.subs {
		if a.releaseLocked(c, f, 0) {
			gone = append(gone, f)
		}
	}
	a.forgetLocked(c)
	if a.clients[c.id] == c {
		delete(a.clients, c.id)
	}
	return gone
}

// forgetLocked closes c's handle and drops the messages kept for it; c
// keeps nothing any more.
func (a *aggregator) forgetLocked(c *aclient) {
	c.dmu.Lock()
	if c.h != nil {
		c.h.closed.Store(true)
		c.h = nil
	}
	c.gone = true
	c.pending = ring{}
	c.dmu.Unlock()
}

// unsubscribe removes filters nobody uses upstream; nobody waits for it.
func (a *aggregator) unsubscribe(filters []string) {
	if len(filters) > 0 {
		a.cl.Unsubscribe(filters...)
	}
}

// deliver runs on paho's router goroutine: m goes to c's handle, or is
// kept while a persistent c is detached (QoS 1 and 2 only, as an MQTT
// broker does). [MQTT 3.1.1 §3.1.2.4]
func (a *aggregator) deliver(c *aclient, m bridge.Message) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if h := c.h; h != nil && !h.closed.Load() {
		h.deliver(m)
		return
	}
	if c.gone || !c.persistent || m.QoS == 0 {
		return
	}
	if c.pending.push(m, a.u.cfg.MaxPending) {
		if n := a.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			a.u.log.Warn().Str("client_id", c.id).Str("topic", m.Topic).Uint64("dropped", n).Msg("kept session buffer full, oldest message dropped")
		}
	}
}

// ring is a FIFO of messages that drops its oldest one when full. The
// zero value is empty; it grows up to the limit given to push.
type ring struct {
	buf  []bridge.Message
	head int
	n    int
}

// push appends m, dropping the oldest message when limit (> 0) are kept
// already, and reports whether it dropped one.
func (r *ring) push(m bridge.Message, limit int) bool {
	if r.n >= limit {
		r.buf[r.head] = m
		r.head = (r.head + 1) % len(r.buf)
		return true
	}
	if r.n == len(r.buf) {
		nb := make([]bridge.Message, min(max(2*len(r.buf), 8), limit))
		r.copyTo(nb)
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
	return false
}

// take returns the kept messages, oldest first, and empties r, freeing
// its buffer.
func (r *ring) take() []bridge.Message {
	if r.n == 0 {
		*r = ring{}
		return nil
	}
	out := make([]bridge.Message, r.n)
	r.copyTo(out)
	*r = ring{}
	return out
}

func (r *ring) copyTo(dst []bridge.Message) {
	k := copy(dst, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(dst[k:r.n], r.buf[:r.n-k])
}

// len is how many messages r keeps.
func (r *ring) len() int { return r.n }
