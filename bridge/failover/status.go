package failover

import (
	"sync"

	"github.com/snbridge/snbridge/bridge"
)

// statusPub logs the uplink state and publishes it, retained, on
// Config.StatusTopic through the fallback broker.
type statusPub struct {
	f     *Failover
	topic string
	pub   StatusPublisher // or, when nil, sess

	mu      sync.Mutex
	sess    bridge.Session // fallback session (nil while opening)
	last    string         // last state seen by the controller
	pending string         // state to publish once sess is open
	closed  bool
}

// openStatus prepares the status publisher; without Config.Status it
// opens a session of the fallback broker to publish on.
func (f *Failover) openStatus() *statusPub {
	st := &statusPub{f: f, topic: f.cfg.StatusTopic, pub: f.cfg.Status}
	if st.topic == "" || st.pub != nil {
		return st
	}
	f.ops.add()
	info := bridge.ClientInfo{ClientID: DefaultStatusClientID, CleanSession: true}
	f.cfg.Fallback.Open(info, func(bridge.Message) {}, func(s bridge.Session, err error) {
		defer f.ops.done()
		if err != nil {
			f.log.Error().Err(err).Str("topic", st.topic).Msg("status session not opened: uplink state not published")
			return
		}
		st.mu.Lock()
		if st.closed {
			st.mu.Unlock()
			s.Close(true, func() {})
			return
		}
		st.sess = s
		state := st.pending
		st.pending = ""
		st.mu.Unlock()
		if state != "" {
			st.send(s, state)
		}
	})
	return st
}

// publishStatus logs and publishes the state when it changed.
func (f *Failover) publishStatus(st *statusPub) {
	state := f.Status()
	st.mu.Lock()
	if state == st.last {
		st.mu.Unlock()
		return
	}
	prev := st.last
	st.last = state
	sess := st.sess
	if st.pub == nil && sess == nil {
		st.pending = state
	}
	st.mu.Unlock()
	sp := f.cfg.Spool.Stats()
	switch state {
	case StatusDown:
		ev := f.log.Warn()
		if prev == "" {
			ev = f.log.Info()
		}
		ev.Str("state", state).Int("spooled", sp.Messages).Msg("upstream down: serving on the fallback broker, spooling")
	case StatusReplaying:
		f.log.Info().Str("state", state).Int("spooled", sp.Messages).Msg("upstream up: replaying the spool")
	default:
		f.log.Info().Str("state", state).Msg("upstream up")
	}
	if st.topic == "" {
		return
	}
	if st.pub != nil {
		if err := st.pub.Publish(st.topic, []byte(state), true, 1); err != nil {
			f.log.Error().Err(err).Str("topic", st.topic).Msg("status publish failed")
		}
		return
	}
	if sess != nil {
		st.send(sess, state)
	}
}

func (st *statusPub) send(s bridge.Session, state string) {
	st.f.ops.add()
	s.Publish(bridge.Message{Topic: st.topic, Payload: []byte(state), QoS: 1, Retain: true}, func(err error) {
		defer st.f.ops.done()
		if err != nil {
			st.f.log.Error().Err(err).Str("topic", st.topic).Msg("status publish failed")
		}
	})
}

// close ends the fallback session (keeping the retained state).
func (st *statusPub) close() {
	st.mu.Lock()
	st.closed = true
	s := st.sess
	st.sess = nil
	st.mu.Unlock()
	if s != nil {
		st.f.ops.add()
		s.Close(true, st.f.ops.done)
	}
}
