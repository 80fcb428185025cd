package paho

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/mqttsn"
)

// aggregator is the shared connection of aggregating mode, its table of
// reference-counted subscriptions and its completer goroutine.
type aggregator struct {
	u  *Upstream
	cl mqtt.Client
	// direct is cl, for QoS 0 publishes written without paho.
	direct *directClient
	q      *fifo[op]
	log    zerolog.Logger

	mu        sync.Mutex
	filters   map[string]*afilter
	clients   map[string]*aclient // open and kept sessions by ClientID
	up        bool                // the shared connection is up
	waiters   []*upToken          // Opens waiting for it
	connected bool                // it was up once (later connects are reconnects)

	dropped atomic.Uint64 // messages dropped from full kept-session buffers
	conns   connCounter
	losses  atomic.Uint64 // connection losses handled (see opLost)
	lost    chan struct{} // the completer handled a loss: run reconnects

	// Used on paho's router goroutine only.
	gen     uint64
	targets []target
}

// afilter is one upstream subscription and the sessions that share it,
// open or kept.
type afilter struct {
	qos   byte   // of the upstream subscription: the highest asked
	epoch uint64 // counts upstream SUBSCRIBEs of this filter
	refs  map[*aclient]aref
}

// aref is one session's use of a filter. A session whose subscription
// caused the filter's latest upstream SUBSCRIBE (epoch equal) is the one
// the broker's retained messages are meant for.
type aref struct {
	qos   byte
	epoch uint64
}

// target is a session a message goes to, at most at qos.
type target struct {
	c   *aclient
	qos byte
}

// aclient is the gateway-side state of one client id on the shared
// connection: its subscriptions (the references it holds on a.filters)
// and, while no handle is attached, the QoS 1 and 2 messages kept for it.
// A persistent one (CleanSession=false) outlives its [asession] handle.
type aclient struct {
	id         string
	persistent bool                // immutable
	subs       map[string]struct{} // guarded by a.mu

	// dmu orders deliveries: it is held while a message is handed to h or
	// kept, and while a resumed session gets the kept messages, so that
	// deliver is never called concurrently and the kept messages come
	// before live ones.
	dmu     sync.Mutex
	h       *asession // attached handle; nil while detached. Written on the completer under dmu
	gone    bool      // discarded: keeps nothing any more (dmu)
	pending ring      // QoS 1 and 2 messages while detached (dmu)

	gen uint64 // router goroutine: last message it was picked for
	idx int    // its index in a.targets then
}

// asession is one Open's handle on a client's session. It is closed by
// its Close, by a later Open of the same client id (takeover), or when
// Run stops.
type asession struct {
	a       *aggregator
	id      string
	clean   bool
	deliver func(bridge.Message)
	closed  atomic.Bool
	c       *aclient // set on the completer when the Open completes
}

var _ bridge.Session = (*asession)(nil)

func newAggregator(u *Upstream) *aggregator {
	a := &aggregator{
		u:       u,
		q:       newFIFO[op](),
		filters: make(map[string]*afilter),
		clients: make(map[string]*aclient),
		lost:    make(chan struct{}, 1),
	}
	id := u.cfg.ClientIDPrefix + u.cfg.AggregatorClientID
	a.log = u.log.With().Str("client_id", id).Logger()
	a.direct = newDirectClient(u.clientOptions(id, u.cfg.Username, u.cfg.Password, false).
		SetCleanSession(true).
		SetKeepAlive(u.cfg.KeepAlive).
		SetConnectRetry(false). // run retries itself, interruptibly
		SetDefaultPublishHandler(a.onMessage).
		SetOnConnectHandler(a.onConnect).
		SetConnectionLostHandler(a.onLost))
	a.cl = a.direct
	return a
}

// run starts the completer and keeps the shared connection up until ctx
// is done: it connects until the connection is up, and again each time the
// completer has handled its loss (paho's auto-reconnect is off: the
// connection is clean, see clientOptions). Upstream.Run then stops the
// completer, which disconnects.
func (a *aggregator) run(ctx context.Context) {
	if !a.u.track() {
		return
	}
	go func() {
		defer a.u.wg.Done()
		drive(a.q, a, nil, a.u.stop, ErrClosed)
	}()
	for a.connect(ctx) {
		select {
		case <-a.lost:
		case <-ctx.Done():
			return
		}
	}
}

// connect connects the shared connection: at once, then with back-off
// (doubling from 1 s up to Config.MaxReconnectInterval); false when ctx
// is done first.
func (a *aggregator) connect(ctx context.Context) bool {
	backoff := min(time.Second, a.u.cfg.MaxReconnectInterval)
	for {
		tok := a.cl.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			// Let the attempt under way finish (ConnectTimeout bounds it)
			// so that shutdown's Disconnect closes what it opened; returning
			// at once left a connection, and its onConnect, outliving Run.
			tok.WaitTimeout(a.u.cfg.ConnectTimeout)
			return false
		}
		if tok.Error() == nil {
			return true
		}
		a.log.Warn().Err(tok.Error()).Dur("retry_in", backoff).Msg("shared upstream connection failed")
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, a.u.cfg.MaxReconnectInterval)
	}
}

func (a *aggregator) open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	s := &asession{a: a, id: info.ClientID, clean: info.CleanSession, deliver: deliver}
	if !a.q.push(op{kind: opOpen, as: s, done: bridge.Completion{Open: done}}) {
		done(nil, ErrClosed)
	}
}

// Publish implements [bridge.Session].
func (s *asession) Publish(m bridge.Message, done func(error)) {
	o := op{kind: opPublish, as: s, msg: m, done: bridge.Completion{Err: done}}
	if m.QoS > 2 {
		o.err = fmt.Errorf("paho: publish %q: invalid qos %d", m.Topic, m.QoS)
	}
	s.push(o)
}

// Subscribe implements [bridge.Session].
func (s *asession) Subscribe(filter string, qos byte, done func(byte, error)) {
	o := op{kind: opSubscribe, as: s, filter: filter, qos: qos, done: bridge.Completion{Sub: done}}
	if qos > 2 {
		o.err = fmt.Errorf("paho: subscribe %q: invalid qos %d", filter, qos)
	}
	s.push(o)
}

// Unsubscribe implements [bridge.Session].
func (s *asession) Unsubscribe(filter string, done func(error)) {
	s.push(op{kind: opUnsubscribe, as: s, filter: filter, done: bridge.Completion{Err: done}})
}

// Close implements [bridge.Session]. A persistent session
// (CleanSession=false) closed without discard keeps its subscriptions,
// and its QoS 1 and 2 messages, for a later Open of the same client id;
// otherwise its subscriptions are released.
func (s *asession) Close(discard bool, done func()) {
	s.push(op{kind: opClose, as: s, discard: discard, done: bridge.Completion{Close: done}})
}

func (s *asession) push(o op) {
	o.gen = s.a.losses.Load()
	if s.closed.Load() && o.err == nil && o.kind != opClose {
		o.err = ErrSessionClosed
	}
	if !s.a.q.push(o) {
		o.done.Fail(ErrClosed)
	}
}

// issue implements engine. paho is called without holding a.mu, which
// paho's router goroutine needs for every message (onMessage).
func (a *aggregator) issue(o *op) {
	if o.as != nil && o.kind != opOpen && o.as.closed.Load() {
		if o.kind != opClose {
			o.err = ErrSessionClosed
		}
		return
	}
	switch o.kind {
	case opOpen:
		a.mu.Lock()
		if !a.up {
			t := newUpToken(a.u.cfg.OpenTimeout)
			a.waiters = append(a.waiters, t)
			o.tok = t
		}
		a.mu.Unlock()
	case opPublish:
		if o.gen != a.losses.Load() {
			// Pushed before a loss of the connection was handled: its
			// caller may not have seen the failures of the publishes
			// before it yet, so it must not overtake them on the next
			// connection.
			o.err = fmt.Errorf("paho: publish %q: %w", o.msg.Topic, ErrConnectionLost)
			o.msg = bridge.Message{}
			return
		}
		if sent, err := a.direct.publish0(o.msg); sent {
			o.err = lost(err)
			o.msg = bridge.Message{}
			return
		}
		o.conn = a.conns.count()
		o.tok = a.cl.Publish(o.msg.Topic, o.msg.QoS, o.msg.Retain, o.msg.Payload)
		if o.msg.QoS == 0 {
			if isDone(o.tok) {
				o.err = lost(o.tok.Error())
			}
			o.tok = nil
		}
		o.msg = bridge.Message{}
	case opSubscribe:
		a.mu.Lock()
		f, qos := a.addRefLocked(o.as.c, o.filter, o.qos)
		o.epoch = f.epoch
		a.mu.Unlock()
		o.tok = a.cl.Subscribe(o.filter, qos, nil)
	case opUnsubscribe:
		a.mu.Lock()
		last := a.releaseLocked(o.as.c, o.filter, 0)
		a.mu.Unlock()
		if last {
			o.tok = a.cl.Unsubscribe(o.filter)
		}
	case opClose:
		a.close(o.as, o.discard)
	case opReconnected:
		a.resubscribe()
	}
}

// addRefLocked adds s to filter's sessions and returns the QoS of the
// upstream SUBSCRIBE to send: the highest asked for. It is sent for a new
// filter, for a higher QoS, and for a new session on a known filter too,
// so that the broker sends the retained messages again, for it.
// [MQTT 3.1.1 §3.8.4]
func (a *aggregator) addRefLocked(s *aclient, filter string, qos byte) (*afilter, byte) {
	f := a.filters[filter]
	if f == nil {
		f = &afilter{refs: make(map[*aclient]aref)}
		a.filters[filter] = f
	}
	f.qos = max(f.qos, qos)
	f.epoch++
	f.refs[s] = aref{qos: qos, epoch: f.epoch}
	s.subs[filter] = struct{}{}
	return f, f.qos
}

// releaseLocked removes s from filter (only if its subscription is of
// epoch, unless epoch is 0) and reports whether it was the last one, so
// that the caller unsubscribes upstream.
func (a *aggregator) releaseLocked(s *aclient, filter string, epoch uint64) bool {
	f := a.filters[filter]
	if f == nil {
		delete(s.subs, filter)
		return false
	}
	r, ok := f.refs[s]
	if !ok || (epoch != 0 && r.epoch != epoch) {
		return false
	}
	delete(s.subs, filter)
	delete(f.refs, s)
	if len(f.refs) > 0 {
		return false
	}
	delete(a.filters, filter)
	return true
}

// resubscribe makes every filter again after a reconnect: the shared
// session is clean. It runs on the completer, in order with the sessions'
// subscribes and unsubscribes.
func (a *aggregator) resubscribe() {
	type sub struct {
		filter string
		qos    byte
	}
	var subs []sub
	a.mu.Lock()
	for filter, f := range a.filters {
		f.epoch++ // retained messages again: nobody new wants them
		subs = append(subs, sub{filter, f.qos})
	}
	a.mu.Unlock()
	a.log.Info().Int("filters", len(subs)).Msg("resubscribing on the shared upstream connection")
	for _, s := range subs {
		a.q.push(op{kind: opResubscribe, filter: s.filter, tok: a.cl.Subscribe(s.filter, s.qos, nil)})
	}
}

// complete implements engine.
func (a *aggregator) complete(o *op) bool {
	switch o.kind {
	case opOpen:
		if err := o.result(); err != nil {
			o.done.Open(nil, err)
			return false
		}
		a.attach(o.as, o.done.Open)
	case opPublish:
		o.done.Err(o.lostResult())
	case opLost:
		// Every operation pushed before this one has completed (failed),
		// so the callers have seen those failures: later publishes may go
		// on the next connection, which run makes now.
		a.losses.Add(1)
		select {
		case a.lost <- struct{}{}:
		default:
		}
	case opSubscribe:
		o.done.Sub(a.subscribed(o))
	case opUnsubscribe:
		if err := o.result(); err != nil && o.tok != nil {
			a.log.Warn().Err(err).Str("topic", o.filter).Msg("upstream unsubscribe failed")
		}
		o.done.Err(nil) // the session is unsubscribed either way
	case opResubscribe:
		if err := o.result(); err != nil {
			a.log.Warn().Err(err).Str("topic", o.filter).Msg("resubscribe after reconnect failed")
		}
	case opClose:
		o.done.Close()
	}
	return false
}

// subscribed reports the session's grant: min(asked, upstream grant). A
// failed subscription is taken back for this session.
func (a *aggregator) subscribed(o *op) (byte, error) {
	err := o.result()
	g := byte(0x80)
	if err == nil {
		g, err = granted(o.tok, o.filter, o.qos)
	}
	if err == nil {
		return min(g, o.qos), nil
	}
	a.mu.Lock()
	last := a.releaseLocked(o.as.c, o.filter, o.epoch)
	a.mu.Unlock()
	if last {
		a.cl.Unsubscribe(o.filter)
	}
	return 0x80, fmt.Errorf("paho: subscribe %q: %w", o.filter, err)
}

// shutdown implements engine: Run is stopping.
func (a *aggregator) shutdown() {
	a.mu.Lock()
	for _, c := range a.clients {
		a.forgetLocked(c)
	}
	clear(a.clients)
	clear(a.filters)
	for _, w := range a.waiters {
		w.timer.Stop()
		w.finish(ErrClosed)
	}
	a.waiters = nil
	a.mu.Unlock()
	a.cl.Disconnect(quiesce)
}

// connections implements engine.
func (a *aggregator) connections() *connCounter { return &a.conns }

// onMessage runs on paho's router goroutine: the message goes once to
// every session with a matching filter, at most at that session's QoS. A
// message with the retain flag comes from a SUBSCRIBE, so it goes only to
// the sessions that SUBSCRIBE was for. Deliver is called on this one
// goroutine, so never concurrently for a session.
func (a *aggregator) onMessage(_ mqtt.Client, pm mqtt.Message) {
	topic := pm.Topic()
	retained := pm.Retained()
	a.gen++
	ts := a.targets[:0]
	a.mu.Lock()
	for filter, f := range a.filters {
		if !mqttsn.MatchTopic(filter, topic) {
			continue
		}
		for c, r := range f.refs {
			fresh := r.epoch == f.epoch
			if retained && !fresh {
				continue
			}
			if c.gen != a.gen {
				c.gen, c.idx = a.gen, len(ts)
				ts = append(ts, target{c: c, qos: r.qos})
				continue
			}
			ts[c.idx].qos = max(ts[c.idx].qos, r.qos)
		}
	}
	a.mu.Unlock()
	m := bridge.Message{Topic: topic, Payload: pm.Payload(), QoS: pm.Qos(), Retain: retained}
	for i := range ts {
		mm := m
		mm.QoS = min(m.QoS, ts[i].qos)
		a.deliver(ts[i].c, mm)
	}
	clear(ts)
	a.targets = ts[:0]
}

// onConnect runs on a paho goroutine after every connection: waiting
// Opens complete, and after a reconnect the completer resubscribes.
func (a *aggregator) onConnect(mqtt.Client) {
	a.conns.connected()
	a.mu.Lock()
	a.up = true
	for _, w := range a.waiters {
		w.timer.Stop()
		w.finish(nil)
	}
	a.waiters = nil
	reconnect := a.connected
	a.connected = true
	a.mu.Unlock()
	if !reconnect {
		a.log.Info().Msg("shared upstream connection up")
		return
	}
	a.log.Info().Msg("shared upstream connection back")
	a.q.push(op{kind: opReconnected})
}

func (a *aggregator) onLost(_ mqtt.Client, err error) {
	a.mu.Lock()
	a.up = false
	a.mu.Unlock()
	a.log.Warn().Err(err).Msg("shared upstream connection lost, reconnecting")
	a.q.push(op{kind: opLost})
}

// upToken completes when the shared connection is up, or with
// ErrUpstreamDown after a timeout.
type upToken struct {
	done  chan struct{}
	once  sync.Once
	err   error
	timer *time.Timer
}

func newUpToken(timeout time.Duration) *upToken {
	t := &upToken{done: make(chan struct{})}
	t.timer = time.AfterFunc(timeout, func() {
		t.finish(fmt.Errorf("%w after %v", ErrUpstreamDown, timeout))
	})
	return t
}

// finish completes t once; the timer is stopped by whoever finishes it
// early (holding a.mu, which also orders the timer's assignment).
func (t *upToken) finish(err error) {
	t.once.Do(func() {
		t.err = err
		close(t.done)
	})
}

func (t *upToken) Done() <-chan struct{} { return t.done }

func (t *upToken) Error() error { return t.err }
