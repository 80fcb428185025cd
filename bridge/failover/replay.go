package failover

import (
	"slices"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/spool"
)

// client is the backlog and replay state of one MQTT-SN client id,
// whether it is connected or not. Guarded by f.mu; cursor and buf are the
// controller's.
type client struct {
	id        string
	appending int // spool appends issued, not yet synced
	inflight  int // replayed messages awaiting ack and removal
	// inflightQoS2 counts the QoS 2 ones among them.
	inflightQoS2 int
	cursor       uint64
	buf          []spool.Entry
	via          bridge.Session // the session the in-flight replays went out on
	stalled      bool           // a replay failed: start again from the spool's head
	retryAt      time.Time
}

// replaySession is the gateway-owned primary session that replays the
// messages of clients that are not connected.
type replaySession struct {
	s bridge.Session // nil while opening
}

// closeReplay closes rs; a new replay session (same client id) is opened
// only once it is closed, lest the two take the id from each other.
func (f *Failover) closeReplay(rs *replaySession) {
	if rs.s == nil {
		return
	}
	f.closePrimary(f.cfg.ReplayClientID, rs.s, false, nil)
}

// rateLimit paces the replay at rate messages per second (0: unlimited),
// with a burst of a tenth of a second's worth.
type rateLimit struct {
	every time.Duration
	burst time.Duration
	next  time.Time
}

func (r *rateLimit) init(rate int) {
	if rate <= 0 {
		return
	}
	r.every = time.Second / time.Duration(rate)
	r.burst = max(r.every, 100*time.Millisecond)
}

// wait returns how long until the next message may go (0: now).
func (r *rateLimit) wait(now time.Time) time.Duration {
	if r.every == 0 || !now.Before(r.next) {
		return 0
	}
	return r.next.Sub(now)
}

func (r *rateLimit) spend(now time.Time) {
	if r.every == 0 {
		return
	}
	if floor := now.Add(-r.burst); r.next.Before(floor) {
		r.next = floor
	}
	r.next = r.next.Add(r.every)
}

// replayRound sends spooled messages round-robin over the clients, one per
// client per turn, until every client's window is full, its backlog sent,
// or the rate is spent (then it returns how long to wait).
func (f *Failover) replayRound(rl *rateLimit) time.Duration {
	f.mu.Lock()
	up := f.up
	f.mu.Unlock()
	if !up {
		return 0
	}
	ids := f.cfg.Spool.Clients() // sorted
	// Start after the client served last, so that a round cut short by
	// the rate does not favour the first clients.
	start, _ := slices.BinarySearch(ids, f.rrLast)
	if start < len(ids) && ids[start] == f.rrLast {
		start++
	}
	for progress := len(ids) > 0; progress; {
		progress = false
		for i := range ids {
			id := ids[(start+i)%len(ids)]
			now := time.Now()
			if w := rl.wait(now); w > 0 {
				return w
			}
			if f.replayOne(id, now) {
				rl.spend(now)
				f.rrLast = id
				progress = true
			}
		}
	}
	return 0
}

// replayOne sends the next spooled message of client id; false when there
// is none to send now.
func (f *Failover) replayOne(id string, now time.Time) bool {
	f.mu.Lock()
	c := f.clientLocked(id)
	via, open := f.replayViaLocked(c, now)
	if via == nil {
		f.mu.Unlock()
		if open {
			f.openReplay()
		}
		return false
	}
	if len(c.buf) == 0 {
		cursor := c.cursor
		f.mu.Unlock()
		entries, err := f.cfg.Spool.Next(id, cursor, 2*f.cfg.ReplayWindow)
		if err != nil {
			f.log.Error().Err(err).Str("client_id", id).Msg("spool read failed")
			return false
		}
		f.mu.Lock()
		if c.stalled || c.cursor != cursor {
			f.mu.Unlock()
			return false
		}
		c.buf = entries
	}
	if len(c.buf) == 0 {
		f.mu.Unlock()
		return false
	}
	e := c.buf[0]
	if c.inflight > 0 && (e.QoS == 2 || c.inflightQoS2 > 0) {
		// A broker hands a QoS 2 message on at PUBREL, later than QoS
		// 0/1 ones sent after it: QoS 2 replays go one at a time.
		f.mu.Unlock()
		return false
	}
	if e.QoS == 2 {
		c.inflightQoS2++
	}
	c.buf[0] = spool.Entry{}
	c.buf = c.buf[1:]
	c.cursor = e.Seq
	f.addInflightLocked(c, 1)
	c.via = via
	f.mu.Unlock()
	m := bridge.Message{Topic: e.Topic, Payload: e.Payload, QoS: e.QoS, Retain: e.Retain}
	done := func(err error) { f.replayed(c, via, e.Seq, e.QoS, err) }
	if m.QoS > 0 {
		done = f.boundErr(done)
	}
	via.Publish(m, done)
	return true
}

// replayViaLocked returns the primary session to replay c's messages on,
// or nil (and whether the replay session should be opened).
func (f *Failover) replayViaLocked(c *client, now time.Time) (via bridge.Session, open bool) {
	if c.stalled {
		if c.inflight > 0 || now.Before(c.retryAt) {
			return nil, false
		}
		c.stalled, c.cursor, c.buf = false, 0, nil
	}
	if c.inflight >= f.cfg.ReplayWindow {
		return nil, false
	}
	if vs := f.byClient[c.id]; vs != nil {
		// Through the client's own session, so that its new messages
		// follow on the same connection; none while it is on the fallback.
		via = vs.pr
	} else if f.replay == nil {
		if now.Before(f.replayRetryAt) || f.closing[f.cfg.ReplayClientID] > 0 {
			return nil, false
		}
		f.replay = &replaySession{}
		return nil, true
	} else {
		via = f.replay.s
	}
	if via == nil {
		return nil, false
	}
	if c.via != nil && c.via != via && c.inflight > 0 {
		return nil, false // let the other session's replays finish first: order
	}
	return via, false
}

// replayed handles the broker's answer to a replayed message: acked ones
// are removed from the spool; a failure stalls the client's replay, which
// starts again from its oldest spooled message after RetryInterval.
func (f *Failover) replayed(c *client, via bridge.Session, seq uint64, qos byte, err error) {
	if err == nil {
		f.cfg.Spool.Remove(c.id, seq, func(rerr error) {
			f.mu.Lock()
			f.addInflightLocked(c, -1)
			if qos == 2 {
				c.inflightQoS2--
			}
			f.stats.Replayed++
			if rerr != nil {
				// Still spooled: go over the client's spool again
				// (a duplicate), or it would never drain.
				c.stalled = true
				c.retryAt = time.Now().Add(f.cfg.RetryInterval)
			}
			f.forgetIdleLocked(c)
			f.mu.Unlock()
			if rerr != nil {
				f.log.Error().Err(rerr).Str("client_id", c.id).Msg("removing a replayed message from the spool failed")
			}
			f.wake()
		})
		return
	}
	f.mu.Lock()
	vs := f.byClient[c.id]
	f.addInflightLocked(c, -1)
	if qos == 2 {
		c.inflightQoS2--
	}
	c.stalled = true
	c.retryAt = time.Now().Add(f.cfg.RetryInterval)
	f.stats.ReplayFail++
	var rs *replaySession
	if f.replay != nil && f.replay.s == via {
		rs, f.replay = f.replay, nil
	}
	f.mu.Unlock()
	f.log.Warn().Err(err).Str("client_id", c.id).Msg("replay publish failed, will retry")
	if rs != nil {
		f.closeReplay(rs)
	}
	if vs != nil {
		vs.demoteFrom(via)
	}
	f.wake()
}

// forgetIdleLocked drops the state of a client with nothing spooled or in
// flight.
func (f *Failover) forgetIdleLocked(c *client) {
	if c.appending == 0 && c.inflight == 0 && !c.stalled && f.cfg.Spool.Len(c.id) == 0 && f.clients[c.id] == c {
		c.via, c.buf, c.cursor = nil, nil, 0
		delete(f.clients, c.id)
	}
}

// openReplay opens the replay session on the primary.
func (f *Failover) openReplay() {
	f.mu.Lock()
	rs := f.replay
	f.mu.Unlock()
	info := bridge.ClientInfo{ClientID: f.cfg.ReplayClientID, CleanSession: true}
	f.openPrimary(info, func(bridge.Message) {}, func(s bridge.Session, err error) {
		f.mu.Lock()
		current := f.replay == rs && f.up
		if current && err == nil {
			rs.s = s
		} else if f.replay == rs {
			f.replay = nil
			f.replayRetryAt = time.Now().Add(f.cfg.RetryInterval)
		}
		f.mu.Unlock()
		switch {
		case err != nil:
			f.log.Warn().Err(err).Msg("replay session not opened")
		case !current:
			f.closePrimary(f.cfg.ReplayClientID, s, false, nil)
		default:
			f.wake()
		}
	})
}
