package failover

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/paho"
)

// vsession is the virtual session given to the gateway: it outlives
// switches between the primary and the fallback.
type vsession struct {
	f       *Failover
	info    bridge.ClientInfo
	deliver func(bridge.Message)
	dmu     sync.Mutex // serializes deliver over both sides
	comp    completer
	ctl     chain

	// Guarded by f.mu.
	fb    bridge.Session
	pr    bridge.Session // nil while the session is on the fallback
	subs  map[string]byte
	order []string // subscription order, for re-making them
	// unsubs are filters unsubscribed while on the fallback: a persistent
	// primary session still has them and loses them when it is reopened.
	unsubs    map[string]struct{}
	closed    bool
	promoting bool
	openFails int // primary opens failed in a row
	nextOp    uint64
	inflight  map[uint64]*pubOp // direct primary publishes awaiting their ack
}

var _ bridge.Session = (*vsession)(nil)

func newVSession(f *Failover, info bridge.ClientInfo, deliver func(bridge.Message)) *vsession {
	return &vsession{
		f:        f,
		info:     info,
		deliver:  deliver,
		subs:     make(map[string]byte),
		inflight: make(map[uint64]*pubOp),
	}
}

// deliverFallback and deliverPrimary hand a message to the gateway; the
// two sides' goroutines are serialized here.
func (vs *vsession) deliverFallback(m bridge.Message) { vs.hand(m) }

func (vs *vsession) deliverPrimary(m bridge.Message) { vs.hand(m) }

func (vs *vsession) hand(m bridge.Message) {
	vs.dmu.Lock()
	vs.deliver(m)
	vs.dmu.Unlock()
}

// pubOp is a publish on the primary awaiting its acknowledgement. When the
// link is lost first, it is abandoned: spooled, and its late result
// ignored.
type pubOp struct {
	vs   *vsession
	id   uint64
	pr   bridge.Session // the primary session it went out on
	c    *client        // set when it is spooled
	m    bridge.Message
	slot *slot
	over atomic.Bool
}

// Publish implements [bridge.Session]. Route:
//   - primary up, session on the primary, no backlog: published there;
//   - primary up otherwise: appended to the spool (behind the backlog);
//   - primary down: published on the fallback broker, and appended to the
//     spool when QoS >= 1 or SpoolQoS0.
//
// done follows the spool's fsync when the message is spooled.
func (vs *vsession) Publish(m bridge.Message, done func(error)) {
	s := vs.comp.add(done)
	f := vs.f
	f.mu.Lock()
	if vs.closed {
		f.mu.Unlock()
		s.finishErr(ErrSessionClosed)
		return
	}
	id := vs.info.ClientID
	pr := vs.pr
	switch {
	case f.up && pr != nil && !f.backlogLocked(id, f.clients[id]):
		f.stats.Direct++
		vs.nextOp++
		op := &pubOp{vs: vs, id: vs.nextOp, pr: pr, m: m, slot: s}
		vs.inflight[op.id] = op
		f.mu.Unlock()
		vs.publishPrimary(pr, op)
	case f.up:
		c := f.clientLocked(id)
		f.addAppendingLocked(c, 1)
		f.mu.Unlock()
		f.appendMu.Lock()
		f.spoolAppendHeld(c, m, s.finishErr)
		f.appendMu.Unlock()
	default:
		fb := vs.fb
		f.stats.Fallback++
		spooled := m.QoS > 0 || f.cfg.SpoolQoS0
		if !spooled {
			f.mu.Unlock()
			fb.Publish(m, s.finishErr)
			return
		}
		c := f.clientLocked(id)
		f.addAppendingLocked(c, 1)
		f.mu.Unlock()
		f.appendMu.Lock()
		f.spoolAppendHeld(c, m, s.finishErr)
		f.appendMu.Unlock()
		fb.Publish(m, func(err error) {
			if err != nil {
				f.log.Debug().Err(err).Str("client_id", vs.info.ClientID).Str("topic", m.Topic).Msg("fallback publish failed")
			}
		})
	}
}

func (vs *vsession) publishPrimary(pr bridge.Session, op *pubOp) {
	if op.m.QoS == 0 {
		pr.Publish(op.m, op.result)
		return
	}
	pr.Publish(op.m, vs.f.boundErr(op.result))
}

// result completes a direct publish; a failure spools the message.
func (op *pubOp) result(err error) {
	if !op.over.CompareAndSwap(false, true) {
		return
	}
	f := op.vs.f
	f.mu.Lock()
	delete(op.vs.inflight, op.id)
	if err == nil {
		f.mu.Unlock()
		op.slot.finishErr(nil)
		return
	}
	f.stats.Abandoned++
	op.c = f.clientLocked(op.vs.info.ClientID)
	f.addAppendingLocked(op.c, 1)
	f.mu.Unlock()
	f.log.Debug().Err(err).Str("client_id", op.c.id).Str("topic", op.m.Topic).Msg("primary publish failed, spooling")
	f.appendMu.Lock()
	f.spoolAppendHeld(op.c, op.m, op.slot.finishErr)
	f.appendMu.Unlock()
	op.vs.demoteFrom(op.pr)
}

// abandonLocked takes over a direct publish whose link is lost; the
// caller spools it (holding appendMu) with spoolAbandoned.
func (op *pubOp) abandonLocked() bool {
	if !op.over.CompareAndSwap(false, true) {
		return false
	}
	delete(op.vs.inflight, op.id)
	op.vs.f.stats.Abandoned++
	op.c = op.vs.f.clientLocked(op.vs.info.ClientID)
	op.vs.f.addAppendingLocked(op.c, 1)
	return true
}

// Subscribe implements [bridge.Session]: the subscription is recorded and
// made on the side the session is on.
func (vs *vsession) Subscribe(filter string, qos byte, done func(byte, error)) {
	s := vs.comp.add(nil)
	finish := func(g byte, err error) { s.finish(func() { done(g, err) }) }
	vs.ctl.do(func(next func()) {
		f := vs.f
		f.mu.Lock()
		if vs.closed {
			f.mu.Unlock()
			finish(0x80, ErrSessionClosed)
			next()
			return
		}
		if _, ok := vs.subs[filter]; !ok {
			vs.order = append(vs.order, filter)
		}
		delete(vs.unsubs, filter)
		vs.subs[filter] = qos
		side, onPrimary := vs.sideLocked()
		f.mu.Unlock()
		cb := func(g byte, err error) {
			if err != nil {
				vs.forget(filter, qos, err, onPrimary)
			}
			if err != nil && onPrimary && !errors.Is(err, paho.ErrRefused) && vs.movedFrom(side) {
				// The session fell back meanwhile; demote made the
				// recorded subscription on the fallback.
				g, err = qos, nil
			}
			finish(g, err)
			next()
		}
		if onPrimary {
			cb = f.boundSub(cb)
		}
		side.Subscribe(filter, qos, cb)
	})
}

// forget removes a failed subscription from the record, unless the
// failure was the primary's link (the subscription then lives on).
func (vs *vsession) forget(filter string, qos byte, err error, onPrimary bool) {
	if onPrimary && !errors.Is(err, paho.ErrRefused) && vs.movedFrom(nil) {
		return
	}
	vs.f.mu.Lock()
	if q, ok := vs.subs[filter]; ok && q == qos {
		vs.dropSubLocked(filter)
	}
	vs.f.mu.Unlock()
}

func (vs *vsession) dropSubLocked(filter string) {
	delete(vs.subs, filter)
	if i := slices.Index(vs.order, filter); i >= 0 {
		vs.order = slices.Delete(vs.order, i, i+1)
	}
}

// movedFrom reports whether the session is no longer on the primary
// session side (nil: on no primary session).
func (vs *vsession) movedFrom(side bridge.Session) bool {
	vs.f.mu.Lock()
	defer vs.f.mu.Unlock()
	return vs.pr == nil || (side != nil && vs.pr != side)
}

// sideLocked returns the session's active side.
func (vs *vsession) sideLocked() (bridge.Session, bool) {
	if vs.pr != nil {
		return vs.pr, true
	}
	return vs.fb, false
}

// Unsubscribe implements [bridge.Session].
func (vs *vsession) Unsubscribe(filter string, done func(error)) {
	s := vs.comp.add(done)
	vs.ctl.do(func(next func()) {
		f := vs.f
		f.mu.Lock()
		if vs.closed {
			f.mu.Unlock()
			s.finishErr(ErrSessionClosed)
			next()
			return
		}
		vs.dropSubLocked(filter)
		side, onPrimary := vs.sideLocked()
		if !onPrimary && !vs.info.CleanSession {
			if vs.unsubs == nil {
				vs.unsubs = make(map[string]struct{})
			}
			vs.unsubs[filter] = struct{}{}
		}
		f.mu.Unlock()
		cb := func(err error) {
			if err != nil && onPrimary && vs.movedFrom(side) {
				// Fell back meanwhile: the fallback never had it.
				err = nil
			}
			s.finishErr(err)
			next()
		}
		if onPrimary {
			cb = f.boundErr(cb)
		}
		side.Unsubscribe(filter, cb)
	})
}

// Close implements [bridge.Session]: both sides are closed. Spooled
// messages of the client stay and are replayed through the replay
// session.
func (vs *vsession) Close(discard bool, done func()) {
	s := vs.comp.add(nil)
	f := vs.f
	f.mu.Lock()
	if vs.closed {
		f.mu.Unlock()
		s.finish(done)
		return
	}
	vs.closed = true
	delete(f.sessions, vs)
	if f.byClient[vs.info.ClientID] == vs {
		delete(f.byClient, vs.info.ClientID)
	}
	pr, fb := vs.pr, vs.fb
	vs.pr = nil
	f.mu.Unlock()
	f.wake()
	var n atomic.Int32
	n.Store(2)
	end := func() {
		if n.Add(-1) == 0 {
			s.finish(done)
		}
	}
	if pr != nil {
		f.closePrimary(vs.info.ClientID, pr, discard, end)
	} else {
		end()
	}
	fb.Close(discard, end)
}

// demote moves the session to the fallback at once: the primary is gone.
// Direct publishes still awaiting their ack are spooled, in issue order;
// the recorded subscriptions are made on the fallback.
func (vs *vsession) demote() { vs.demoteFrom(nil) }

// demoteFrom demotes the session if it is on the primary session from
// (nil: any). A primary session that fails while the primary counts as up
// (the broker dropped this one connection) is left this way; the session
// moves back at the next retry.
func (vs *vsession) demoteFrom(from bridge.Session) {
	f := vs.f
	f.appendMu.Lock()
	f.mu.Lock()
	pr := vs.pr
	if pr == nil || vs.closed || (from != nil && pr != from) {
		f.mu.Unlock()
		f.appendMu.Unlock()
		return
	}
	vs.pr = nil
	ops := make([]*pubOp, 0, len(vs.inflight))
	for _, op := range vs.inflight {
		if op.abandonLocked() {
			ops = append(ops, op)
		}
	}
	subs := vs.subsLocked()
	fb := vs.fb
	f.mu.Unlock()
	slices.SortFunc(ops, func(a, b *pubOp) int { return int(a.id - b.id) })
	for _, op := range ops {
		f.spoolAppendHeld(op.c, op.m, op.slot.finishErr)
	}
	f.appendMu.Unlock()
	for _, sb := range subs {
		fb.Subscribe(sb.filter, sb.qos, func(_ byte, err error) {
			if err != nil {
				f.log.Warn().Err(err).Str("client_id", vs.info.ClientID).Str("topic", sb.filter).Msg("subscription on the fallback failed")
			}
		})
	}
	f.closePrimary(vs.info.ClientID, pr, false, nil)
}

type subRec struct {
	filter string
	qos    byte
}

func (vs *vsession) subsLocked() []subRec {
	out := make([]subRec, 0, len(vs.order))
	for _, flt := range vs.order {
		out = append(out, subRec{flt, vs.subs[flt]})
	}
	return out
}

// promote moves the session to the primary: it opens the primary session
// (with the client's clean-session flag, so the broker hands over what it
// kept for a persistent session), subscribes the recorded filters there,
// and then unsubscribes them on the fallback. then, if not nil, is called
// when that is over, whether it worked or not.
func (vs *vsession) promote(then func()) {
	f := vs.f
	f.mu.Lock()
	if f.closing[vs.info.ClientID] > 0 && !vs.closed && vs.pr == nil {
		f.promoteLater = true
	}
	if vs.closed || vs.pr != nil || vs.promoting || f.closing[vs.info.ClientID] > 0 || !f.up {
		f.mu.Unlock()
		if then != nil {
			then()
		}
		return
	}
	vs.promoting = true
	f.mu.Unlock()
	vs.ctl.do(func(next func()) {
		end := func() {
			f.mu.Lock()
			vs.promoting = false
			f.mu.Unlock()
			if then != nil {
				then()
			}
			f.wake()
			next()
		}
		f.openPrimary(vs.info, vs.deliverPrimary, func(ps bridge.Session, err error) {
			f.mu.Lock()
			fails := vs.openFails
			if err != nil {
				vs.openFails++
			} else {
				vs.openFails = 0
			}
			f.mu.Unlock()
			if err != nil {
				ev := f.log.Debug()
				if fails == 0 {
					ev = f.log.Warn() // once per run of failures
				}
				ev.Err(err).Str("client_id", vs.info.ClientID).Msg("session stays on the fallback: primary open failed")
				end()
				return
			}
			f.mu.Lock()
			subs := vs.subsLocked()
			unsubs := vs.unsubs
			vs.unsubs = nil
			f.mu.Unlock()
			vs.unsubscribeAll(ps, unsubs, func() {
				vs.subscribeAll(ps, subs, func(ok bool) {
					if !ok || !vs.adopt(ps, subs) {
						vs.keepUnsubs(unsubs)
						f.closePrimary(vs.info.ClientID, ps, false, nil)
					}
					end()
				})
			})
		})
	})
}

// unsubscribeAll drops, on the primary session ps, the subscriptions the
// client dropped while on the fallback, and calls done when the broker
// answered (or the operations timed out).
func (vs *vsession) unsubscribeAll(ps bridge.Session, unsubs map[string]struct{}, done func()) {
	if len(unsubs) == 0 {
		done()
		return
	}
	var left atomic.Int32
	left.Store(int32(len(unsubs)))
	for filter := range unsubs {
		ps.Unsubscribe(filter, vs.f.boundErr(func(err error) {
			if err != nil {
				vs.f.log.Warn().Err(err).Str("client_id", vs.info.ClientID).Str("topic", filter).Msg("unsubscribe on the primary failed")
			}
			if left.Add(-1) == 0 {
				done()
			}
		}))
	}
}

// keepUnsubs puts back unsubscriptions for the next promotion, unless
// the client subscribed again meanwhile.
func (vs *vsession) keepUnsubs(unsubs map[string]struct{}) {
	vs.f.mu.Lock()
	defer vs.f.mu.Unlock()
	for filter := range unsubs {
		if _, ok := vs.subs[filter]; ok {
			continue
		}
		if vs.unsubs == nil {
			vs.unsubs = make(map[string]struct{})
		}
		vs.unsubs[filter] = struct{}{}
	}
}

// subscribeAll makes subs on the primary session ps; ok is false when one
// failed for another reason than a refusal.
func (vs *vsession) subscribeAll(ps bridge.Session, subs []subRec, done func(ok bool)) {
	if len(subs) == 0 {
		done(true)
		return
	}
	var left atomic.Int32
	var failed atomic.Bool
	left.Store(int32(len(subs)))
	for _, sb := range subs {
		ps.Subscribe(sb.filter, sb.qos, vs.f.boundSub(func(_ byte, err error) {
			if err != nil && !errors.Is(err, paho.ErrRefused) {
				failed.Store(true)
				vs.f.log.Warn().Err(err).Str("client_id", vs.info.ClientID).Str("topic", sb.filter).Msg("subscription on the primary failed")
			}
			if left.Add(-1) == 0 {
				done(!failed.Load())
			}
		}))
	}
}

// adopt makes ps the session's primary side if the primary is still up
// and the session open, and drops the subscriptions on the fallback.
func (vs *vsession) adopt(ps bridge.Session, subs []subRec) bool {
	f := vs.f
	f.mu.Lock()
	if vs.closed || !f.up || vs.pr != nil {
		f.mu.Unlock()
		return false
	}
	vs.pr = ps
	fb := vs.fb
	f.mu.Unlock()
	f.signalTest()
	for _, sb := range subs {
		fb.Unsubscribe(sb.filter, func(error) {})
	}
	f.log.Debug().Str("client_id", vs.info.ClientID).Int("subscriptions", len(subs)).Msg("session moved to the primary")
	return true
}

// chain runs control operations of one session one after another; each
// gets a next func to call when it is over.
type chain struct {
	mu   sync.Mutex
	busy bool
	q    []func(next func())
}

func (c *chain) do(op func(next func())) {
	c.mu.Lock()
	if c.busy {
		c.q = append(c.q, op)
		c.mu.Unlock()
		return
	}
	c.busy = true
	c.mu.Unlock()
	op(c.next)
}

func (c *chain) next() {
	c.mu.Lock()
	if len(c.q) == 0 {
		c.busy = false
		c.mu.Unlock()
		return
	}
	op := c.q[0]
	c.q = c.q[1:]
	c.mu.Unlock()
	op(c.next)
}

// completer calls completions in the order the operations were issued
// ([bridge.Upstream] promises that), whatever order they finish in.
type completer struct {
	mu       sync.Mutex
	q        []*slot
	flushing bool
	due      []*slot // the flushing goroutine's
}

type slot struct {
	c    *completer
	done func(error)
	fn   func()
	ok   bool
}

// add reserves the place of an operation; done, if not nil, is what
// finishErr calls.
func (c *completer) add(done func(error)) *slot {
	s := &slot{c: c, done: done}
	c.mu.Lock()
	c.q = append(c.q, s)
	c.mu.Unlock()
	return s
}

func (s *slot) finishErr(err error) {
	s.finish(func() { s.done(err) })
}

// finish records fn as the slot's completion and calls every completion
// that is now due, in order, on this goroutine (one goroutine at a time).
func (s *slot) finish(fn func()) {
	c := s.c
	c.mu.Lock()
	s.fn, s.ok = fn, true
	if c.flushing {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	for {
		n := 0
		for n < len(c.q) && c.q[n].ok {
			n++
		}
		if n == 0 {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		due := append(c.due[:0], c.q[:n]...)
		c.q = c.q[:copy(c.q, c.q[n:])]
		clear(c.q[len(c.q) : len(c.q)+n])
		c.mu.Unlock()
		for i, d := range due {
			d.fn()
			due[i] = nil
		}
		c.mu.Lock()
		c.due = due[:0]
	}
}
