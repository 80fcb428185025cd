package paho

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
)

// quiesce is how long a DISCONNECT may take to be written, in ms.
const quiesce = 250

// tsession is a transparent-mode session: its own paho client and one
// completer goroutine ([drive]) that issues the session's operations to
// paho and completes them in issue order.
type tsession struct {
	u       *Upstream
	info    bridge.ClientInfo
	id      string // MQTT client id
	user    string
	pass    string
	cl      mqtt.Client
	direct  *directClient // cl, for QoS 0 publishes written without paho
	deliver func(bridge.Message)
	log     zerolog.Logger
	q       *fifo[op]

	abort     chan struct{} // closed: stop waiting for tokens
	abortOnce sync.Once
	closed    atomic.Bool // Close issued: no more deliveries or operations
	connected atomic.Bool // the first connection was made
	conns     connCounter
	gen       atomic.Uint64     // connection losses handled (see opLost)
	store     *mqtt.MemoryStore // paho's store; a persistent session's is emptied before a reconnect

	// Reconnecting a clean session (paho's auto-reconnect is off for it).
	rmu   sync.Mutex
	ended bool          // end ran: no more reconnects
	quit  chan struct{} // closed by end
	rdone chan struct{} // closed when the running reconnect loop returns; nil if none

	mu    sync.Mutex
	grace *time.Timer     // bounds a Close's wait
	subs  map[string]byte // current subscriptions, for resubscribing
	ready bool            // Open completed; deliver directly
	early []bridge.Message
}

var _ bridge.Session = (*tsession)(nil)

func (u *Upstream) openTransparent(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	s := &tsession{
		u:       u,
		info:    info,
		id:      u.cfg.ClientIDPrefix + info.ClientID,
		deliver: deliver,
		q:       newFIFO[op](),
		abort:   make(chan struct{}),
		quit:    make(chan struct{}),
		subs:    make(map[string]byte),
	}
	s.log = u.log.With().Str("client_id", s.id).Logger()
	s.user, s.pass = u.cfg.credentials(info.ClientID, info.Username, info.Password)
	s.store = mqtt.NewMemoryStore()
	// paho's auto-reconnect is off for every session: the completer
	// reconnects once the failures of everything pushed before the loss
	// have been reported, so that no later publish overtakes them.
	s.direct = newDirectClient(u.clientOptions(s.id, s.user, s.pass, false).
		SetStore(s.store).
		SetReconnectingHandler(s.onReconnecting).
		SetCleanSession(info.CleanSession).
		SetKeepAlive(u.cfg.sessionKeepAlive(info.KeepAlive)).
		SetConnectRetry(false).
		SetDefaultPublishHandler(s.onMessage).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(s.onLost))
	s.cl = s.direct

	u.mu.Lock()
	if u.stopped {
		u.mu.Unlock()
		done(nil, ErrClosed)
		return
	}
	u.sessions[s] = struct{}{}
	u.wg.Add(1)
	u.mu.Unlock()

	s.q.push(op{kind: opOpen, done: bridge.Completion{Open: done}})
	go func() {
		defer u.wg.Done()
		drive(s.q, s, s.abort, u.stop, ErrSessionClosed)
		u.mu.Lock()
		delete(u.sessions, s)
		u.mu.Unlock()
	}()
}

// Publish implements [bridge.Session].
func (s *tsession) Publish(m bridge.Message, done func(error)) {
	o := op{kind: opPublish, msg: m, done: bridge.Completion{Err: done}}
	switch {
	case s.closed.Load():
		o.err = ErrSessionClosed
	case m.QoS > 2:
		o.err = fmt.Errorf("paho: publish %q: invalid qos %d", m.Topic, m.QoS)
	}
	s.push(o)
}

// Subscribe implements [bridge.Session].
func (s *tsession) Subscribe(filter string, qos byte, done func(byte, error)) {
	o := op{kind: opSubscribe, filter: filter, qos: qos, done: bridge.Completion{Sub: done}}
	switch {
	case s.closed.Load():
		o.err = ErrSessionClosed
	case qos > 2:
		o.err = fmt.Errorf("paho: subscribe %q: invalid qos %d", filter, qos)
	}
	s.push(o)
}

// Unsubscribe implements [bridge.Session].
func (s *tsession) Unsubscribe(filter string, done func(error)) {
	o := op{kind: opUnsubscribe, filter: filter, done: bridge.Completion{Err: done}}
	if s.closed.Load() {
		o.err = ErrSessionClosed
	}
	s.push(o)
}

// Close implements [bridge.Session]. Outstanding operations get
// Config.CloseTimeout to complete before they fail.
func (s *tsession) Close(discard bool, done func()) {
	if !s.closed.Swap(true) {
		s.mu.Lock()
		s.grace = time.AfterFunc(s.u.cfg.CloseTimeout, s.stopWaiting)
		s.mu.Unlock()
	}
	s.push(op{kind: opClose, discard: discard, done: bridge.Completion{Close: done}})
}

// push queues o for the completer; after the session ended, o fails on
// the caller's goroutine.
func (s *tsession) push(o op) {
	o.gen = s.gen.Load()
	if !s.q.push(o) {
		o.done.Fail(ErrSessionClosed)
	}
}

func (s *tsession) stopWaiting() { s.abortOnce.Do(func() { close(s.abort) }) }

// issue implements engine.
func (s *tsession) issue(o *op) {
	switch o.kind {
	case opOpen:
		o.tok = s.cl.Connect()
	case opPublish:
		if o.gen != s.gen.Load() {
			// Pushed before a loss of the connection was handled: its
			// caller may not have seen the failures of the publishes
			// before it yet, so it must not overtake them on the next
			// connection.
			o.err = fmt.Errorf("paho: publish %q: %w", o.msg.Topic, ErrConnectionLost)
			o.msg = bridge.Message{}
			return
		}
		o.keep = !s.info.CleanSession
		if o.keep && o.msg.QoS > 0 {
			// Counted before the check: a loss after it fails the publish.
			o.conn = s.conns.lossCount()
			if !s.cl.IsConnectionOpen() {
				o.err = fmt.Errorf("paho: publish %q: %w", o.msg.Topic, ErrConnectionLost)
				o.msg = bridge.Message{}
				return
			}
		}
		if sent, err := s.direct.publish0(o.msg); sent {
			o.err = err
			if s.info.CleanSession {
				o.err = lost(err)
			}
			o.msg = bridge.Message{}
			return
		}
		o.tok = s.cl.Publish(o.msg.Topic, o.msg.QoS, o.msg.Retain, o.msg.Payload)
		if o.msg.QoS == 0 { // done once handed over; report an immediate failure
			if isDone(o.tok) {
				o.err = o.tok.Error()
				if s.info.CleanSession {
					o.err = lost(o.err)
				}
			}
			o.tok = nil
		}
		o.msg = bridge.Message{}
	case opSubscribe:
		s.mu.Lock()
		s.subs[o.filter] = o.qos
		s.mu.Unlock()
		o.tok = s.cl.Subscribe(o.filter, o.qos, nil)
	case opUnsubscribe:
		s.mu.Lock()
		delete(s.subs, o.filter)
		s.mu.Unlock()
		o.tok = s.cl.Unsubscribe(o.filter)
	case opReconnected:
		s.resubscribe()
	}
}

// complete implements engine.
func (s *tsession) complete(o *op) bool {
	switch o.kind {
	case opOpen:
		return s.opened(o)
	case opPublish:
		err := o.lostResult()
		if err == nil && o.keep && o.tok != nil && s.conns.lostSince(o.conn) {
			// paho completes the token of a message it resends after a
			// reconnect before any acknowledgement.
			err = fmt.Errorf("paho: publish: %w", ErrConnectionLost)
		}
		o.done.Err(err)
	case opUnsubscribe:
		o.done.Err(o.result())
	case opLost:
		// Every operation pushed before this one has completed (failed),
		// so the caller has seen those failures: later publishes may go
		// on the next connection.
		s.gen.Add(1)
		s.startReconnect()
	case opSubscribe:
		g, err := s.subscribed(o)
		o.done.Sub(g, err)
	case opResubscribe:
		if _, err := s.subscribed(o); err != nil {
			s.log.Warn().Err(err).Str("topic", o.filter).Msg("resubscribe after reconnect failed")
		}
	case opClose:
		s.end(o.discard)
		o.done.Close()
		return true
	}
	return false
}

// shutdown implements engine: Run is stopping; the broker-side state is
// kept.
func (s *tsession) shutdown() { s.end(false) }

// connections implements engine.
func (s *tsession) connections() *connCounter { return &s.conns }

// opened completes the Open; true when it failed.
func (s *tsession) opened(o *op) bool {
	if err := o.result(); err != nil {
		s.closed.Store(true)
		s.cl.Disconnect(0) // stops a connect still in progress
		s.log.Warn().Err(err).Msg("upstream session not opened")
		o.done.Open(nil, fmt.Errorf("paho: connect %s as %q: %w", s.u.url, s.id, err))
		return true
	}
	s.log.Debug().Bool("clean", s.info.CleanSession).Msg("upstream session opened")
	o.done.Open(s, nil)
	s.flushEarly()
	return false
}

func (s *tsession) subscribed(o *op) (byte, error) {
	err := o.result()
	g := byte(0x80)
	if err == nil {
		g, err = granted(o.tok, o.filter, o.qos)
	}
	if err != nil {
		s.mu.Lock()
		if q, ok := s.subs[o.filter]; ok && q == o.qos {
			delete(s.subs, o.filter)
		}
		s.mu.Unlock()
		return 0x80, fmt.Errorf("paho: subscribe %q: %w", o.filter, err)
	}
	return g, nil
}

// end disconnects; with discard the broker-side session of a
// CleanSession=false client is discarded too, by connecting once more
// with clean session set. [MQTT 3.1.1 §3.1.2.4]
func (s *tsession) end(discard bool) {
	s.closed.Store(true)
	s.mu.Lock()
	if s.grace != nil {
		s.grace.Stop()
	}
	s.mu.Unlock()
	s.rmu.Lock()
	if !s.ended {
		s.ended = true
		close(s.quit)
	}
	rdone := s.rdone
	s.rmu.Unlock()
	if rdone != nil {
		<-rdone // a connect under way: let it finish so Disconnect closes it
	}
	s.cl.Disconnect(quiesce)
	if discard && !s.info.CleanSession {
		c := mqtt.NewClient(s.u.clientOptions(s.id, s.user, s.pass, false).
			SetCleanSession(true))
		tok := c.Connect()
		if !tok.WaitTimeout(s.u.cfg.ConnectTimeout) || tok.Error() != nil {
			s.log.Warn().Err(tok.Error()).Msg("discarding broker session failed")
		}
		c.Disconnect(quiesce)
	}
	s.log.Debug().Bool("discard", discard).Msg("upstream session closed")
}

// onMessage runs on paho's router goroutine (one per client, so deliver
// is never concurrent for the session). Messages that arrive before Open
// completed are kept until it did.
func (s *tsession) onMessage(_ mqtt.Client, pm mqtt.Message) {
	if s.closed.Load() {
		return
	}
	m := bridge.Message{Topic: pm.Topic(), Payload: pm.Payload(), QoS: pm.Qos(), Retain: pm.Retained()}
	s.mu.Lock()
	if !s.ready {
		s.early = append(s.early, m)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.deliver(m)
}

// flushEarly delivers what came before Open completed and then lets
// onMessage deliver directly.
func (s *tsession) flushEarly() {
	for {
		s.mu.Lock()
		early := s.early
		s.early = nil
		if len(early) == 0 {
			s.ready = true
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for _, m := range early {
			s.deliver(m)
		}
	}
}

// onConnect runs on a paho goroutine after every connection. After a
// reconnect it subscribes again to every filter: the broker may have lost
// the session (clean session, or a broker restart without persistence),
// and the CONNACK's session-present flag is not visible through paho's
// reconnect. A repeated subscription is harmless but makes the broker send
// retained messages again. [MQTT 3.1.1 §3.8.4]
func (s *tsession) onConnect(mqtt.Client) {
	s.conns.connected()
	if !s.connected.Swap(true) {
		return
	}
	s.log.Info().Msg("upstream session reconnected")
	s.q.push(op{kind: opReconnected}) // the completer resubscribes, in order
}

// resubscribe runs on the completer for opReconnected.
func (s *tsession) resubscribe() {
	s.mu.Lock()
	subs := maps.Clone(s.subs)
	s.mu.Unlock()
	for f, q := range subs {
		s.q.push(op{kind: opResubscribe, filter: f, qos: q, tok: s.cl.Subscribe(f, q, nil)})
	}
}

// onLost runs on a paho goroutine after a connection was lost. For a clean
// session paho has failed every outstanding token already (it does not
// reconnect it); the completer reconnects once it has completed everything
// pushed before (opLost). A persistent session is reconnected by paho,
// which resends its in-flight messages to the broker's session.
func (s *tsession) onLost(_ mqtt.Client, err error) {
	s.log.Warn().Err(err).Msg("upstream session lost, reconnecting")
	if !s.info.CleanSession {
		// paho keeps a persistent session's tokens pending for a resend;
		// the completer fails the publishes in flight instead (see drive).
		s.conns.lost()
	}
	if !s.closed.Load() {
		s.q.push(op{kind: opLost})
	}
}

// onReconnecting runs on paho's reconnect goroutine of a persistent
// session before each attempt, before paho resends what its store holds:
// the store is emptied, so paho resends nothing (it would complete the
// tokens at the resend, before any acknowledgement, and in no particular
// order), and the completer fails the publishes in flight with
// ErrConnectionLost (see drive) for the caller to retry in order.
func (s *tsession) onReconnecting(mqtt.Client, *mqtt.ClientOptions) {
	s.conns.lost()
	s.store.Reset()
	s.q.push(op{kind: opLost})
}

// startReconnect starts the reconnect loop of a clean session, unless it
// is ending or one runs already. Called on the completer.
func (s *tsession) startReconnect() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.ended || s.rdone != nil || !s.u.track() {
		return
	}
	s.rdone = make(chan struct{})
	go s.reconnect(s.rdone)
}

// reconnect connects the clean session again: at once, then with back-off
// (doubling from 1 s up to Config.MaxReconnectInterval), until it is up,
// the session ends or Run stops. A connect under way is waited for
// (Config.ConnectTimeout bounds it), so that end's Disconnect closes it.
func (s *tsession) reconnect(done chan struct{}) {
	defer s.u.wg.Done()
	defer func() {
		s.rmu.Lock()
		s.rdone = nil
		s.rmu.Unlock()
		close(done)
	}()
	backoff := min(time.Second, s.u.cfg.MaxReconnectInterval)
	for {
		if !s.info.CleanSession {
			// paho would resend what its store holds, in no particular
			// order and completing nothing: those publishes were failed
			// and are retried by the caller. The broker keeps the session.
			s.store.Reset()
		}
		tok := s.cl.Connect()
		tok.Wait()
		if tok.Error() == nil {
			return
		}
		s.log.Debug().Err(tok.Error()).Dur("retry_in", backoff).Msg("upstream session reconnect failed")
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
			return
		case <-s.u.stop:
			t.Stop()
			return
		}
		backoff = min(2*backoff, s.u.cfg.MaxReconnectInterval)
	}
}
