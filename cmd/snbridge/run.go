package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
	"github.com/snbridge/snbridge/config"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
	"github.com/snbridge/snbridge/transport/xbee"
)

// run wires a validated configuration into running parts: transports,
// the embedded broker (always, with its [broker] listener), the upstream
// and the gateway. The upstream is the embedded broker when no [upstream]
// url is set (standalone), the remote broker through paho otherwise, and
// with [fallback] enabled a failover over both: the remote broker while
// it is reachable, the embedded broker and a durable spool in data_dir
// while it is not (bridge/failover). It returns when ctx is cancelled
// (nil) or when a part fails (its error, after stopping the others).
// extra parts (the pprof server) run and stop with the others.
func run(ctx context.Context, cfg config.Config, log zerolog.Logger, extra ...func(context.Context) error) error {
	p, err := newPlan(cfg, log)
	if err != nil {
		return err
	}
	conns, runners, stats, err := openTransports(p)
	if err != nil {
		return err
	}
	st, brokerStore, err := openState(cfg, log)
	if err != nil {
		closeAll(conns)
		return err
	}
	defer closeState(st, log) // after every part has stopped
	bc := p.Broker
	bc.StorePath = brokerStore
	broker, err := embedded.New(bc)
	if err != nil {
		closeAll(conns)
		return fmt.Errorf("embedded broker: %w", err)
	}
	stats = append(stats, statsSource{Msg: "embedded broker stats", Snapshot: func() any {
		return struct{ PendingDropped uint64 }{broker.Dropped()}
	}})
	status := newStatusGate(broker.Server())
	parts := append([]func(context.Context) error{broker.Run}, runners...)
	parts = append(parts, extra...)
	var up bridge.Upstream = broker
	if p.Remote != nil {
		paho.SetLogger(log)
		remote, err := paho.New(*p.Remote)
		if err != nil {
			closeAll(conns)
			return fmt.Errorf("upstream: %w", err)
		}
		stats = append(stats, statsSource{Msg: "upstream stats", Snapshot: func() any {
			return struct{ PendingDropped uint64 }{remote.Dropped()}
		}})
		up = remote
		if p.Failover == nil {
			parts = append(parts, remote.Run)
		} else {
			f, sp, err := newFailover(p.Failover, remote, broker, status)
			if err != nil {
				closeAll(conns)
				return err
			}
			defer closeSpool(sp, log) // after f.Run has returned (g.Wait below)
			up = f
			parts = append(parts, f.Run) // runs remote.Run and the spool's Run too
			stats = append(stats,
				statsSource{Msg: "failover stats", Tags: func(e *zerolog.Event) { e.Str("upstream", f.Status()) },
					Snapshot: func() any { return f.Stats() }},
				statsSource{Msg: "spool stats", Snapshot: func() any { return sp.Stats() }})
		}
	}
	gcfg := p.Gateway
	gcfg.Transports, gcfg.Upstream, gcfg.State = conns, up, st
	gw, err := bridge.New(gcfg)
	if err != nil {
		closeAll(conns)
		return err
	}
	parts = append(parts, gw.Run)
	stats = append([]statsSource{{Msg: "gateway stats", Snapshot: func() any { return gw.Stats() }}}, stats...)
	parts = append(parts, func(ctx context.Context) error { return reportStats(ctx, log, statsInterval, stats) })

	g, ctx := errgroup.WithContext(ctx)
	for _, run := range parts {
		g.Go(func() error { return run(ctx) })
	}
	select {
	case <-broker.Started(): // the local MQTT listener is bound, the store loaded
		status.open()
	case <-ctx.Done(): // a part failed (or a signal came); Wait says which
		err := g.Wait()
		logAllStats(log, stats)
		return err
	}
	log.Info().Int("transports", len(conns)).Bool("standalone", cfg.Standalone()).
		Bool("fallback", p.Failover != nil).Str("mode", cfg.Gateway.Mode).
		Str("broker_listen", broker.Addr()).Msg("snbridge running")
	err = g.Wait()
	logAllStats(log, stats)
	return err
}

// newFailover opens the spool and builds the failover over the remote
// broker (primary) and the embedded one (fallback); the caller runs the
// failover (which runs the spool and the remote upstream) and closes the
// spool after that Run has returned.
func newFailover(fp *failoverPlan, remote *paho.Upstream, broker *embedded.Broker, gate *statusGate) (*failover.Failover, *spool.Spool, error) {
	sp, err := spool.Open(fp.Spool)
	if err != nil {
		return nil, nil, fmt.Errorf("fallback spool: %w", err)
	}
	probe, err := failover.NewProbe(fp.Probe)
	if err != nil {
		_ = sp.Close()
		return nil, nil, fmt.Errorf("fallback probe: %w", err)
	}
	fc := fp.Failover
	fc.Primary, fc.Fallback, fc.Health, fc.Spool = remote, broker, probe, sp
	fc.Status = gate // the server may publish on $SYS; gate holds it until started
	f, err := failover.New(fc)
	if err != nil {
		_ = sp.Close()
		return nil, nil, fmt.Errorf("fallback: %w", err)
	}
	return f, sp, nil
}

func closeSpool(sp *spool.Spool, log zerolog.Logger) {
	if err := sp.Close(); err != nil {
		log.Error().Err(err).Msg("spool not closed cleanly")
	}
}

// openTransports opens every configured transport; on failure it closes
// the ones already open. runners are the Run methods of transports that
// have one (an XBee radio keeps reopening its serial device); stats are
// their counters.
func openTransports(p plan) (conns []transport.Conn, runners []func(context.Context) error, stats []statsSource, err error) {
	for i, uc := range p.UDP {
		c, err := udp.Listen(uc)
		if err != nil {
			closeAll(conns)
			return nil, nil, nil, fmt.Errorf("transport.udp[%d]: %w", i, err)
		}
		uc.Logger.Info().Stringer("addr", c.LocalAddr()).Stringer("broadcast", c.BroadcastAddr()).Msg("UDP transport listening")
		conns = append(conns, c)
		addr := c.LocalAddr().String()
		stats = append(stats, statsSource{Msg: "UDP transport stats", Tags: func(e *zerolog.Event) { e.Str("addr", addr) },
			Snapshot: func() any { return c.Stats() }})
	}
	for i, xc := range p.XBee {
		c, err := xbee.New(xc)
		if err != nil {
			closeAll(conns)
			return nil, nil, nil, fmt.Errorf("transport.xbee[%d]: %w", i, err)
		}
		conns = append(conns, c)
		runners = append(runners, c.Run)
		dev := xc.Device
		stats = append(stats, statsSource{Msg: "XBee transport stats", Tags: func(e *zerolog.Event) { e.Str("device", dev) },
			Snapshot: func() any { return c.Stats() }})
	}
	if len(conns) == 0 {
		return nil, nil, nil, errors.New("no transport configured")
	}
	return conns, runners, stats, nil
}

func closeAll(conns []transport.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// statusGate holds the failover's status publications until the embedded
// broker has started: mochi loads its stored retained messages while it
// starts, and that load would put an older status back over a newer one
// (the retained status read "down" while the upstream was up). Until then
// it keeps the latest payload per topic and publishes it at open.
type statusGate struct {
	srv *mqtt.Server

	mu      sync.Mutex
	started bool
	pending map[string]statusMsg
	order   []string // topics in first-publication order
}

type statusMsg struct {
	payload []byte
	retain  bool
	qos     byte
}

func newStatusGate(srv *mqtt.Server) *statusGate {
	return &statusGate{srv: srv, pending: make(map[string]statusMsg)}
}

// Publish implements failover.StatusPublisher.
func (g *statusGate) Publish(topic string, payload []byte, retain bool, qos byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return g.srv.Publish(topic, payload, retain, qos)
	}
	if _, ok := g.pending[topic]; !ok {
		g.order = append(g.order, topic)
	}
	g.pending[topic] = statusMsg{bytes.Clone(payload), retain, qos}
	return nil
}

// open publishes what was held and lets later publications through.
func (g *statusGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return
	}
	g.started = true
	for _, t := range g.order {
		m := g.pending[t]
		_ = g.srv.Publish(t, m.payload, m.retain, m.qos) // the failover logs state changes itself
	}
	g.pending, g.order = nil, nil
}
