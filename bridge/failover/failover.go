package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/spool"
)

// Defaults for the zero Config fields.
const (
	DefaultOpTimeout      = 30 * time.Second
	DefaultRetryInterval  = 5 * time.Second
	DefaultReplayWindow   = 16
	DefaultReplayClientID = "snbridge-replay"
	DefaultStatusClientID = "snbridge-status"
)

// Status payloads published on Config.StatusTopic.
const (
	StatusDown      = "down"
	StatusUp        = "up"
	StatusReplaying = "replaying"
)

// Errors given to completions.
var (
	// ErrClosed: the failover is not running any more.
	ErrClosed = errors.New("failover: closed")
	// ErrSessionClosed: the operation was issued on a closed session.
	ErrSessionClosed = errors.New("failover: session closed")
	// errTimeout: a primary operation did not complete within OpTimeout.
	errTimeout = errors.New("failover: primary operation timed out")
)

// Health reports whether the primary broker is reachable. [Probe] is the
// implementation over a small MQTT connection of its own.
type Health interface {
	// Run calls report with every change (true: reachable) until ctx is
	// cancelled, then returns nil. report must not block; until its first
	// call the primary counts as down.
	Run(ctx context.Context, report func(up bool)) error
}

// StatusPublisher publishes the uplink state. *mqtt.Server of
// mochi-mqtt (embedded.Broker.Server) is one: its inline client may
// publish on $SYS topics, which an ordinary session may not.
type StatusPublisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// Config configures a [Failover].
type Config struct {
	// Primary is the remote broker (bridge/paho); Fallback the embedded
	// broker (bridge/embedded). Both are required.
	Primary  bridge.Upstream
	Fallback bridge.Upstream
	// Health tells when the primary is reachable; required.
	Health Health
	// Spool keeps uplink messages while the primary is down; required.
	// Run runs it (spool.Spool.Run); the caller opens and, after Run has
	// returned, closes it.
	Spool *spool.Spool
	// SpoolQoS0 spools QoS 0 (and MQTT-SN QoS -1) messages too while the
	// primary is down.
	SpoolQoS0 bool
	// ReplayRate bounds the replay in messages per second over all
	// clients; 0 is unlimited.
	ReplayRate int
	// ReplayWindow is how many replayed messages of one client may await
	// the broker's acknowledgement at once; 0 means DefaultReplayWindow.
	ReplayWindow int
	// ReplayClientID is the client id of the session that replays the
	// messages of clients that are not connected; "" means
	// DefaultReplayClientID.
	ReplayClientID string
	// StatusTopic receives the retained uplink state ("up", "down",
	// "replaying"); "" publishes nothing.
	StatusTopic string
	// Status publishes it; nil publishes through a session of Fallback
	// (which cannot publish on $SYS topics).
	Status StatusPublisher
	// OpTimeout bounds every operation on the primary (paho tokens can
	// hang while the connection is down); an uplink publish that times
	// out is spooled.
	OpTimeout time.Duration
	// RetryInterval paces new attempts at sessions that did not move
	// back to the primary and at replays that failed.
	RetryInterval time.Duration
	// RunPrimary makes Run run Primary.Run too (the failover is then the
	// primary's only user). The fallback's Run is always the caller's:
	// the embedded broker runs in every mode.
	RunPrimary bool
	Logger     zerolog.Logger
}

// Stats is a snapshot of the failover's counters.
type Stats struct {
	Direct     uint64 // uplink messages published on the primary directly
	Spooled    uint64 // uplink messages appended to the spool
	Rejected   uint64 // appends refused (spool full): congestion for the sensor
	Abandoned  uint64 // primary publishes given up (link lost) and spooled
	Fallback   uint64 // uplink messages published on the fallback broker
	Replayed   uint64 // spooled messages acknowledged by the primary
	ReplayFail uint64 // replay publishes that failed (retried)
	Switches   uint64 // up/down transitions
}

// Failover is a [bridge.Upstream] over a primary and a fallback upstream.
// Create it with [New], then call [Failover.Run].
type Failover struct {
	cfg Config
	log zerolog.Logger

	healthUp atomic.Bool   // latest report of Health
	kick     chan struct{} // wakes the controller
	running  atomic.Bool
	stopped  atomic.Bool // Run returned
	ops      opCounter   // operations the failover issued itself

	// appendMu orders spool appends: a message whose route was decided
	// later is appended later. Taken before mu, never under it.
	appendMu sync.Mutex

	mu       sync.Mutex
	up       bool // the controller's view: sessions go to the primary
	sessions map[*vsession]struct{}
	byClient map[string]*vsession // the latest open session per client id
	clients  map[string]*client   // backlog and replay state per client id
	replay   *replaySession
	// replayRetryAt delays a new replay session after one failed to open.
	replayRetryAt time.Time
	rrLast        string // controller's: the client replayed last
	// closing counts primary sessions being closed per client id: a new
	// one for the id is opened only after, lest the two take the id from
	// each other at the broker (paho reconnects during a Close's grace).
	closing map[string]int
	// promoteLater: a promotion was put off because of closing.
	promoteLater bool
	// testHook, set by tests only, is signalled (without blocking)
	// after every primary session close and every move to the primary.
	testHook chan struct{}
	stats    Stats
	busy     int  // spool appends in progress and replays in flight, over all clients
	refusing bool // the last spool append was refused
}

var _ bridge.Upstream = (*Failover)(nil)

// New checks cfg and returns a Failover. It starts nothing.
func New(cfg Config) (*Failover, error) {
	switch {
	case cfg.Primary == nil:
		return nil, errors.New("failover: no primary upstream")
	case cfg.Fallback == nil:
		return nil, errors.New("failover: no fallback upstream")
	case cfg.Health == nil:
		return nil, errors.New("failover: no health monitor")
	case cfg.Spool == nil:
		return nil, errors.New("failover: no spool")
	case cfg.ReplayRate < 0:
		return nil, fmt.Errorf("failover: negative replay rate %d", cfg.ReplayRate)
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.ReplayClientID == "" {
		cfg.ReplayClientID = DefaultReplayClientID
	}
	return &Failover{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "bridge/failover").Logger(),
		kick:     make(chan struct{}, 1),
		sessions: make(map[*vsession]struct{}),
		byClient: make(map[string]*vsession),
		clients:  make(map[string]*client),
		closing:  make(map[string]int),
	}, nil
}

// Stats returns a snapshot of the counters.
func (f *Failover) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Status returns the current uplink state: [StatusDown], [StatusUp] or
// [StatusReplaying].
func (f *Failover) Status() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusLocked()
}

func (f *Failover) statusLocked() string {
	switch {
	case !f.up:
		return StatusDown
	case f.busy > 0 || f.cfg.Spool.Stats().Messages > 0:
		return StatusReplaying
	}
	return StatusUp
}

// addAppendingLocked and addInflightLocked count a client's spool appends
// in progress and replays awaiting the broker, and their totals.
func (f *Failover) addAppendingLocked(c *client, d int) {
	c.appending += d
	f.busy += d
}

func (f *Failover) addInflightLocked(c *client, d int) {
	c.inflight += d
	f.busy += d
}

// wake asks the controller for another round.
func (f *Failover) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Run runs the health monitor, the spool, the controller (switching and
// replay) and, with Config.RunPrimary, the primary until ctx is
// cancelled. Then it closes every session and returns nil. When one of
// those parts fails, Run stops the others and returns its error.
func (f *Failover) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("failover: Run called twice")
	}
	// The spool and the primary stop only after the sessions are closed.
	inner, cancel := context.WithCancel(context.Background())
	defer cancel()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var parts errgroup.Group
	part := func(name string, run func() error) {
		parts.Go(func() error {
			err := run()
			if err != nil {
				stop()
				return fmt.Errorf("failover: %s: %w", name, err)
			}
			return nil
		})
	}
	part("spool", func() error { return f.cfg.Spool.Run(inner) })
	if f.cfg.RunPrimary {
		part("primary", func() error { return f.cfg.Primary.Run(inner) })
	}
	part("health", func() error {
		return f.cfg.Health.Run(cctx, func(up bool) {
			f.healthUp.Store(up)
			f.wake()
		})
	})
	st := f.openStatus()
	f.control(cctx, st)
	stop()
	f.shutdown(st)
	cancel()
	return parts.Wait()
}

// control is the controller loop: it follows the health reports, moves
// sessions between the sides, drives the replay and publishes the state.
func (f *Failover) control(ctx context.Context, st *statusPub) {
	tick := time.NewTicker(f.cfg.RetryInterval)
	defer tick.Stop()
	var rl rateLimit
	rl.init(f.cfg.ReplayRate)
	var pace *time.Timer
	var paceC <-chan time.Time
	f.publishStatus(st)
	for {
		select {
		case <-ctx.Done():
			if pace != nil {
				pace.Stop()
			}
			return
		case <-f.kick:
			f.mu.Lock()
			later := f.promoteLater && f.up
			f.promoteLater = false
			f.mu.Unlock()
			if later {
				f.retry()
			}
		case <-tick.C:
			f.retry()
		case <-paceC:
			paceC = nil
		}
		f.follow()
		if wait := f.replayRound(&rl); wait > 0 && paceC == nil {
			if pace == nil {
				pace = time.NewTimer(wait)
			} else {
				pace.Reset(wait)
			}
			paceC = pace.C
		}
		f.publishStatus(st)
	}
}

// follow applies a change of the health report to the sessions.
func (f *Failover) follow() {
	up := f.healthUp.Load()
	f.mu.Lock()
	if up == f.up {
		f.mu.Unlock()
		return
	}
	f.up = up
	f.stats.Switches++
	vss := f.sessionsLocked()
	rs := f.replay
	f.replay = nil
	f.mu.Unlock()
	if !up {
		f.log.Debug().Int("sessions", len(vss)).Msg("sessions moving to the fallback broker")
		for _, vs := range vss {
			vs.demote()
		}
		if rs != nil {
			f.closeReplay(rs)
		}
		return
	}
	f.log.Debug().Int("sessions", len(vss)).Msg("sessions moving back to the primary")
	for _, vs := range vss {
		vs.promote(nil)
	}
}

// retry moves sessions that are still on the fallback while the primary
// is up, and lets stalled replays go again.
func (f *Failover) retry() {
	f.mu.Lock()
	if !f.up {
		f.mu.Unlock()
		return
	}
	vss := f.sessionsLocked()
	f.mu.Unlock()
	for _, vs := range vss {
		vs.promote(nil)
	}
}

func (f *Failover) sessionsLocked() []*vsession {
	vss := make([]*vsession, 0, len(f.sessions))
	for vs := range f.sessions {
		vss = append(vss, vs)
	}
	return vss
}

// shutdown closes every session (keeping broker-side state) and waits for
// the operations in flight.
func (f *Failover) shutdown(st *statusPub) {
	f.mu.Lock()
	vss := f.sessionsLocked()
	rs := f.replay
	f.replay = nil
	f.mu.Unlock()
	f.stopped.Store(true)
	for _, vs := range vss {
		vs.Close(false, func() {})
	}
	if rs != nil {
		f.closeReplay(rs)
	}
	st.close()
	f.waitOps()
}

// waitOps waits, bounded by OpTimeout, for the primary and fallback
// operations the failover issued itself. (A fallback that does not run
// any more answers at once; one that never ran does not answer.)
func (f *Failover) waitOps() {
	t := time.NewTimer(f.cfg.OpTimeout + time.Second)
	defer t.Stop()
	select {
	case <-f.ops.idle():
	case <-t.C:
		f.log.Warn().Int("pending", f.ops.pending()).Msg("operations still pending at shutdown")
	}
}

// opCounter counts operations in flight; idle gives a channel closed once
// there are none.
type opCounter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

func (c *opCounter) add() {
	c.mu.Lock()
	if c.n == 0 {
		c.zero = make(chan struct{})
	}
	c.n++
	c.mu.Unlock()
}

func (c *opCounter) done() {
	c.mu.Lock()
	if c.n--; c.n == 0 {
		close(c.zero)
		c.zero = nil
	}
	c.mu.Unlock()
}

func (c *opCounter) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// closedChan is an always-ready channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *opCounter) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return closedChan
	}
	return c.zero
}

// client returns the backlog state of id, creating it. Callers hold mu.
func (f *Failover) clientLocked(id string) *client {
	c := f.clients[id]
	if c == nil {
		c = &client{id: id}
		f.clients[id] = c
	}
	return c
}

// backlogLocked reports whether new messages of client id (state c, nil
// when none is kept) must go behind spooled ones.
func (f *Failover) backlogLocked(id string, c *client) bool {
	return (c != nil && (c.appending > 0 || c.inflight > 0)) || f.cfg.Spool.Len(id) > 0
}

// spoolAppend appends m for client id and completes done once it is on
// disk (or refused). The caller has counted the append in c.appending
// and holds appendMu.
func (f *Failover) spoolAppendHeld(c *client, m bridge.Message, done func(error)) {
	f.cfg.Spool.Append(c.id, spool.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain},
		func(_ spool.Entry, err error) {
			f.mu.Lock()
			f.addAppendingLocked(c, -1)
			refusing := f.refusing
			f.refusing = err != nil
			if err != nil {
				f.stats.Rejected++
			} else {
				f.stats.Spooled++
			}
			f.mu.Unlock()
			switch {
			case err != nil && !refusing: // once per run of refusals
				f.log.Warn().Err(err).Str("client_id", c.id).Str("topic", m.Topic).Msg("uplink messages not spooled: sensors get congestion")
			case err != nil:
				f.log.Debug().Err(err).Str("client_id", c.id).Str("topic", m.Topic).Msg("uplink message not spooled")
			case refusing:
				f.log.Info().Msg("spool accepts messages again")
			}
			f.wake()
			done(err)
		})
}

// boundErr returns a completion that calls done with the first of the
// operation's result and errTimeout after OpTimeout.
func (f *Failover) boundErr(done func(error)) func(error) {
	var fired atomic.Bool
	f.ops.add()
	t := time.AfterFunc(f.cfg.OpTimeout, func() {
		if fired.CompareAndSwap(false, true) {
			f.ops.done()
			done(errTimeout)
		}
	})
	return func(err error) {
		if fired.CompareAndSwap(false, true) {
			t.Stop()
			f.ops.done()
			done(err)
		}
	}
}

// boundSub is boundErr for Subscribe.
func (f *Failover) boundSub(done func(byte, error)) func(byte, error) {
	var g atomic.Uint32
	e := f.boundErr(func(err error) { done(byte(g.Load()), err) })
	return func(granted byte, err error) {
		g.Store(uint32(granted))
		e(err)
	}
}

// openPrimary opens a primary session bounded by OpTimeout; one that opens
// after the timeout is closed again.
func (f *Failover) openPrimary(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	var late atomic.Bool
	var s atomic.Pointer[sessionBox]
	fin := f.boundErr(func(err error) {
		if err != nil {
			late.Store(true)
			done(nil, err)
			return
		}
		done(s.Load().s, nil)
	})
	f.cfg.Primary.Open(info, deliver, func(ps bridge.Session, err error) {
		if err == nil {
			s.Store(&sessionBox{ps})
		}
		fin(err)
		if err == nil && late.Load() {
			f.closePrimary(info.ClientID, ps, false, nil)
		}
	})
}

type sessionBox struct{ s bridge.Session }

// closePrimary closes the primary session s of client id and calls then,
// if not nil, when it is closed.
func (f *Failover) closePrimary(id string, s bridge.Session, discard bool, then func()) {
	f.mu.Lock()
	f.closing[id]++
	f.mu.Unlock()
	f.ops.add()
	s.Close(discard, func() {
		f.mu.Lock()
		if f.closing[id]--; f.closing[id] <= 0 {
			delete(f.closing, id)
		}
		f.mu.Unlock()
		f.signalTest()
		f.ops.done()
		f.wake()
		if then != nil {
			then()
		}
	})
}

func (f *Failover) signalTest() {
	f.mu.Lock()
	hook := f.testHook
	f.mu.Unlock()
	if hook != nil {
		select {
		case hook <- struct{}{}:
		default:
		}
	}
}

// Open implements [bridge.Upstream]. The session is opened on the
// fallback broker first; when the primary is up it is then opened there
// too, and Open completes when it is (or, if that fails, on the fallback
// alone: the session moves to the primary later).
func (f *Failover) Open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	if f.stopped.Load() {
		done(nil, ErrClosed)
		return
	}
	vs := newVSession(f, info, deliver)
	f.cfg.Fallback.Open(info, vs.deliverFallback, func(fs bridge.Session, err error) {
		if err != nil {
			done(nil, fmt.Errorf("failover: open %q on the fallback: %w", info.ClientID, err))
			return
		}
		f.mu.Lock()
		vs.fb = fs
		f.sessions[vs] = struct{}{}
		f.byClient[info.ClientID] = vs
		up := f.up
		f.mu.Unlock()
		if !up {
			done(vs, nil)
			f.wake()
			return
		}
		vs.promote(func() {
			done(vs, nil)
			f.wake()
		})
	})
}
