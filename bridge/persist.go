package bridge

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snbridge/snbridge/bridge/state"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport"
)

// DefaultStateFlush is how often dirty sessions are written to the state
// store when Config.StateFlush is 0.
const DefaultStateFlush = 100 * time.Millisecond

// clientPersist is a client's bookkeeping for the state store.
// Loop-owned.
type clientPersist struct {
	dirty     bool   // in persister.dirty
	stored    bool   // a record is on disk (or committed)
	saved     uint64 // session.Changes() of the last snapshot taken
	maxPacket int    // of the transport the client was last bound to
}

// persister writes the sessions that must survive a restart to the
// state store: persistent (CleanSession=false) sessions, and asleep or
// awake ones whatever their clean flag.
//
// When: a Step that may have changed a stored session's durable state
// (session.Changes grew) marks it dirty; dirty sessions are snapshotted
// and committed together every StateFlush (one transaction, one fsync),
// and once more after the loop stops. So a session that changes on every
// message is written at most once per interval (coalesced), and the QoS
// 0 path of a non-persistent active client costs two field reads. While
// a commit is still being written the next flush waits, so slow disks
// coalesce more instead of queueing snapshots.
//
// Kill -9 window: what changed in the last StateFlush plus the time of
// one commit (an fsync) may be lost: a message buffered for a sleeping
// client in that window, a registration or subscription made in it. A
// graceful stop writes everything the sessions hold (see the package
// documentation for messages still on their way from the upstream).
type persister struct {
	store    *state.Store
	interval time.Duration
	timer    *time.Timer
	c        <-chan time.Time // timer.C; nil without a store
	armed    bool
	dirty    []*client
	changes  []state.Change
	busy     atomic.Bool // a commit is being written
	failed   atomic.Bool // the last commit failed: rewrite everything

	saved, deleted, errors atomic.Uint64 // see StateStats
	wg                     sync.WaitGroup
	cancel                 context.CancelFunc
}

// SessionKeeper is an optional interface of an [Upstream] whose broker
// keeps persistent (CleanSession=false) sessions, with their
// subscriptions and queued messages, while the gateway is stopped (a
// remote broker in transparent mode). With a state store, a restored
// persistent session that is not asleep then leaves its broker session
// alone until the client reconnects. Otherwise (the embedded broker,
// aggregating mode) the gateway re-opens it at start and re-subscribes,
// and keeps persistent clients' upstream sessions open while they are
// away (session.Config.HoldUpstream), so that their messages wait in
// the saved sessions and survive a restart.
type SessionKeeper interface {
	KeepsSessions() bool
}

// StateStats counts the gateway's writes to its state store.
type StateStats struct {
	Saved   uint64 // session snapshots written
	Deleted uint64 // sessions deleted (no longer kept)
	Errors  uint64 // commits that failed; their sessions are written again
}

// StateStats returns the state store counters; zero without a store. It
// is safe to call at any time from any goroutine.
func (g *Gateway) StateStats() StateStats {
	p := &g.ps
	return StateStats{Saved: p.saved.Load(), Deleted: p.deleted.Load(), Errors: p.errors.Load()}
}

// wantStored reports whether s is kept across restarts.
func wantStored(s *session.Session) bool {
	st := s.State()
	return s.Persistent() || ((st == session.Asleep || st == session.Awake) && s.ClientID() != "")
}

// startPersist restores the stored sessions and starts the store's
// writer. It runs on the loop goroutine before the loop.
func (g *Gateway) startPersist() {
	p := &g.ps
	if g.cfg.State == nil {
		return
	}
	p.store = g.cfg.State
	p.interval = g.cfg.StateFlush
	if p.interval <= 0 {
		p.interval = DefaultStateFlush
	}
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	p.c = p.timer.C
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Go(func() { _ = p.store.Run(ctx) })
	g.restoreSessions(time.Now())
}

// restoreSessions rebuilds the stored sessions; each re-opens its
// upstream session as session.Restore describes.
func (g *Gateway) restoreSessions(now time.Time) {
	recs := g.ps.store.Records()
	asleep := 0
	kept := false
	if k, ok := g.cfg.Upstream.(SessionKeeper); ok {
		kept = k.KeepsSessions()
	}
	// A broker that does not keep sessions across a restart: persistent
	// clients' upstream sessions stay open while they are away, so that
	// their messages wait in the (saved) sessions.
	g.cfg.Session.HoldUpstream = !kept
	for i := range recs {
		r := &recs[i]
		id := r.Snapshot.ClientID
		if id == "" || id == g.gwCID || g.byID[id] != nil {
			continue
		}
		cfg := g.cfg.Session
		cfg.Predefined = g.predefFor(id)
		cfg.MaxPacket = r.MaxPacket
		c := &client{
			id:   id,
			s:    session.Restore(cfg, r.Snapshot),
			log:  g.log.With().Str("client_id", id).Logger(),
			hidx: -1,
		}
		c.ps = clientPersist{stored: true, saved: c.s.Changes(), maxPacket: r.MaxPacket}
		c.drops = seenDrops(c.s) // counted before the restart
		g.byID[id] = c
		if key, ok := g.addrKey(r.Addr); ok && g.byKey[key] == nil && c.s.State() == session.Asleep {
			// Back at its address: a sleeping client that publishes
			// without waking first is still known.
			g.bind(c, &key)
		}
		g.stats.sessions.Add(1)
		if c.s.State() == session.Asleep {
			asleep++
		}
		c.log.Debug().Stringer("state", c.s.State()).Int("queued", c.s.Queued()).Msg("session restored")
		g.step(c, now, session.Event{Kind: session.EvRestored, Kept: kept})
	}
	if len(recs) > 0 {
		g.log.Info().Int("sessions", len(recs)).Int("asleep", asleep).Str("file", g.ps.store.Path()).Msg("sessions restored")
	}
}

// markDirty notes that c may need writing. Called after every Step.
func (g *Gateway) markDirty(c *client) {
	p := &g.ps
	if p.store == nil || c.ps.dirty {
		return
	}
	if c.s.Changes() == c.ps.saved && !c.dropped {
		return
	}
	if !c.ps.stored && (c.dropped || !wantStored(c.s)) {
		return
	}
	c.ps.dirty = true
	p.dirty = append(p.dirty, c)
	if !p.armed {
		p.armed = true
		p.timer.Reset(p.interval)
	}
}

// flush commits the dirty sessions (loop goroutine). final ignores a
// commit still being written: the writer runs the batches in order.
func (g *Gateway) flush(final bool) {
	p := &g.ps
	p.armed = false
	if p.failed.Swap(false) {
		for _, c := range g.byID {
			if !c.ps.dirty {
				c.ps.dirty = true
				p.dirty = append(p.dirty, c)
			}
		}
	}
	if len(p.dirty) == 0 {
		return
	}
	if !final && p.busy.Load() {
		p.armed = true
		p.timer.Reset(p.interval)
		return
	}
	changes := p.changes[:0]
	for i, c := range p.dirty {
		p.dirty[i] = nil
		c.ps.dirty = false
		if c.bound {
			c.ps.maxPacket = g.maxPacket(&c.key)
		}
		if c.dropped || !wantStored(c.s) {
			if c.ps.stored {
				c.ps.stored = false
				changes = append(changes, state.Change{ClientID: c.id})
			}
			continue
		}
		c.ps.stored = true
		c.ps.saved = c.s.Changes()
		rec := &state.Record{Snapshot: c.s.Snapshot(), MaxPacket: c.ps.maxPacket}
		if c.bound {
			rec.Addr = keyAddr(&c.key)
		}
		changes = append(changes, state.Change{ClientID: c.id, Record: rec})
	}
	p.dirty = p.dirty[:0]
	if len(changes) == 0 {
		return
	}
	batch := make([]state.Change, len(changes))
	copy(batch, changes)
	clear(changes)
	p.changes = changes[:0]
	p.busy.Store(true)
	p.store.Commit(batch, func(err error) { g.committed(batch, err) })
}

// committed runs on the store's writer goroutine.
func (g *Gateway) committed(batch []state.Change, err error) {
	p := &g.ps
	if err != nil {
		p.failed.Store(true)
		p.errors.Add(1)
		g.log.Error().Err(err).Int("sessions", len(batch)).Msg("sessions not saved; retrying")
		p.busy.Store(false)
		return
	}
	for i := range batch {
		if batch[i].Record == nil {
			p.deleted.Add(1)
		} else {
			p.saved.Add(1)
		}
	}
	if ev := g.log.Debug(); ev.Enabled() {
		for i := range batch {
			c := &batch[i]
			if c.Record == nil {
				g.log.Debug().Str("client_id", c.ClientID).Msg("session state deleted")
				continue
			}
			n := len(c.Record.Snapshot.Queue)
			if c.Record.Snapshot.InFlight != nil {
				n++
			}
			g.log.Debug().Str("client_id", c.ClientID).Stringer("state", c.Record.Snapshot.State).Int("queued", n).Msg("session state saved")
		}
	}
	p.busy.Store(false)
}

// stopPersist writes what is dirty and stops the writer once everything
// committed is on disk. It runs on the loop goroutine after the loop.
func (g *Gateway) stopPersist() {
	p := &g.ps
	if p.store == nil {
		return
	}
	// Take in what the upstream already handed over (messages for
	// sleeping clients), so that it is in the last snapshots.
	g.handleUpstreamEvents()
	p.timer.Stop()
	g.flush(true)
	p.cancel()
	p.wg.Wait()
}

// keyAddr is the stored form of a client's address.
func keyAddr(k *clientKey) *state.Addr {
	a := &state.Addr{Transport: k.tr, Encap: k.encap}
	switch k.addr.Kind() {
	case transport.KindUDP:
		a.UDP = k.addr.AddrPort().String()
	case transport.KindXBee:
		a.XBee = k.addr.EUI64()
	default:
		return nil
	}
	if k.encap {
		a.NodeID = slices.Clone(k.node.bytes())
	}
	return a
}

// addrKey turns a stored address back into a client key; ok is false
// when it does not fit the transports of this run.
func (g *Gateway) addrKey(a *state.Addr) (k clientKey, ok bool) {
	if a == nil || a.Transport < 0 || a.Transport >= len(g.cfg.Transports) || len(a.NodeID) > maxNodeID {
		return k, false
	}
	k.tr, k.encap = a.Transport, a.Encap
	k.node.set(a.NodeID)
	switch {
	case a.UDP != "":
		ap, err := netip.ParseAddrPort(a.UDP)
		if err != nil {
			return k, false
		}
		k.addr = transport.UDPAddr(ap)
	case a.XBee != 0:
		k.addr = transport.XBeeAddr(a.XBee)
	default:
		return k, false
	}
	return k, k.addr.Kind() == g.cfg.Transports[k.tr].LocalAddr().Kind()
}
