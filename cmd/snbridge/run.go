package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/config"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
	"github.com/snbridge/snbridge/transport/xbee"
)

// run wires a validated configuration into running parts: transports,
// the embedded broker (always, with its [broker] listener), the upstream
// (the remote broker through paho when [upstream] url is set, the
// embedded broker otherwise) and the gateway. It returns when ctx is
// cancelled (nil) or when a part fails (its error, after stopping the
// others).
func run(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	conns, runners, err := openTransports(cfg, log)
	if err != nil {
		return err
	}
	st, brokerStore, err := openState(cfg, log)
	if err != nil {
		closeAll(conns)
		return err
	}
	defer closeState(st, log) // after every part has stopped
	broker, err := embedded.New(embedded.Config{
		Listen:    cfg.Broker.Listen,
		StorePath: brokerStore,
		Logger:    log,
	})
	if err != nil {
		closeAll(conns)
		return fmt.Errorf("embedded broker: %w", err)
	}
	parts := append([]func(context.Context) error{broker.Run}, runners...)
	var up bridge.Upstream = broker
	if !cfg.Standalone() {
		remote, err := newRemote(cfg, log)
		if err != nil {
			closeAll(conns)
			return err
		}
		up = remote
		parts = append(parts, remote.Run)
	}
	gcfg := gatewayConfig(cfg, conns, up, log)
	gcfg.State = st
	gw, err := bridge.New(gcfg)
	if err != nil {
		closeAll(conns)
		return err
	}
	parts = append(parts, gw.Run)

	g, ctx := errgroup.WithContext(ctx)
	for _, run := range parts {
		g.Go(func() error { return run(ctx) })
	}
	select {
	case <-broker.Started(): // the local MQTT listener is bound
	case <-ctx.Done(): // a part failed (or a signal came); Wait says which
		return g.Wait()
	}
	log.Info().Int("transports", len(conns)).Bool("standalone", cfg.Standalone()).
		Str("mode", cfg.Gateway.Mode).Str("broker_listen", cfg.Broker.Listen).Msg("snbridge running")
	err = g.Wait()
	logStats(log, gw.Stats())
	return err
}

// logStats logs the gateway's counters once, at shutdown.
func logStats(log zerolog.Logger, s bridge.Stats) {
	log.Info().Uint64("datagrams_in", s.DatagramsIn).Uint64("packets_out", s.PacketsOut).
		Uint64("malformed", s.Malformed).Uint64("unknown_client", s.UnknownClient).
		Uint64("sessions_opened", s.SessionsOpened).Uint64("clients_rejected", s.ClientsRejected).
		Uint64("qos_minus1_in", s.QoSMinus1In).Uint64("qos_minus1_dropped", s.QoSMinus1Dropped).
		Uint64("deliveries_dropped", s.DeliveriesDropped).Uint64("wills_published", s.WillsPublished).
		Uint64("send_errors", s.SendErrors).Uint64("upstream_errors", s.UpstreamErrors).
		Msg("gateway stats")
}

// openTransports opens every configured transport; on failure it closes
// the ones already open. runners are the Run methods of transports that
// have one (an XBee radio keeps reopening its serial device).
func openTransports(cfg config.Config, log zerolog.Logger) (conns []transport.Conn, runners []func(context.Context) error, err error) {
	for i, u := range cfg.Transport.UDP {
		c, err := udp.Listen(udp.Config{
			Listen:     u.Listen,
			Broadcast:  u.Broadcast,
			RecvBuffer: int(u.RecvBuffer.Int64()),
			Logger:     log,
		})
		if err != nil {
			closeAll(conns)
			return nil, nil, fmt.Errorf("transport.udp[%d]: %w", i, err)
		}
		log.Info().Stringer("addr", c.LocalAddr()).Stringer("broadcast", c.BroadcastAddr()).Msg("UDP transport listening")
		conns = append(conns, c)
	}
	for i, x := range cfg.Transport.XBee {
		c, err := xbee.New(xbee.Config{
			Device:      x.Device,
			Baud:        x.Baud,
			APIMode:     x.APIMode,
			DataBits:    x.DataBits,
			Parity:      x.Parity,
			StopBits:    x.StopBits,
			FlowControl: x.FlowControl,
			MaxPayload:  x.MaxPayload,
			Logger:      log,
		})
		if err != nil {
			closeAll(conns)
			return nil, nil, fmt.Errorf("transport.xbee[%d]: %w", i, err)
		}
		conns = append(conns, c)
		runners = append(runners, c.Run)
	}
	if len(conns) == 0 {
		return nil, nil, errors.New("no transport configured")
	}
	return conns, runners, nil
}

func closeAll(conns []transport.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// gatewayConfig maps the [gateway] and [[predefined]] settings
// onto the gateway's Config.
func gatewayConfig(cfg config.Config, conns []transport.Conn, up bridge.Upstream, log zerolog.Logger) bridge.Config {
	gc := cfg.Gateway
	bc := bridge.Config{
		Transports: conns,
		Upstream:   up,
		Session: session.Config{
			RetryInterval: gc.RetryInterval.Std(),
			RetryCount:    gc.RetryCount,
			SleepBuffer:   gc.SleepBuffer,
			BufferQoS0:    gc.BufferQoS0,
			MaxTopics:     gc.MaxTopics,
			MaxInflight:   gc.MaxInflight,
		},
		GatewayID:         uint8(gc.ID),
		MaxClients:        gc.MaxClients,
		AdvertiseInterval: gc.AdvertiseInterval.Std(),
		Logger:            log,
	}
	for _, p := range cfg.Predefined {
		bc.Predefined = append(bc.Predefined, bridge.PredefinedTopic{ID: uint16(p.ID), Topic: p.Topic, ClientID: p.ClientID})
	}
	return bc
}
