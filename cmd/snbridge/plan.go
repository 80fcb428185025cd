package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
	"github.com/snbridge/snbridge/config"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport/udp"
	"github.com/snbridge/snbridge/transport/xbee"
)

// spoolFile is the failover's spool inside [fallback] data_dir.
const spoolFile = "spool.db"

// failoverCloseTimeout bounds paho's Close in failover mode: a session
// moving to the fallback must not wait long for operations on a dead link.
const failoverCloseTimeout = 2 * time.Second

// plan is the configuration of every part that run builds, mapped from a
// validated config.Config by [newPlan] without opening anything, so that
// the mapping can be tested on its own. Fields that only exist at run
// time (transports, upstream, state store) are filled in by run.
type plan struct {
	UDP     []udp.Config
	XBee    []xbee.Config
	Broker  embedded.Config // StorePath is set by run from data_dir
	Gateway bridge.Config   // without Transports, Upstream and State

	// Remote is set when [upstream] url is (not standalone).
	Remote *paho.Config
	// Failover is set with [fallback] enabled (Remote is then set too).
	Failover *failoverPlan
}

// failoverPlan configures the offline failover: the spool, the probe and
// the failover itself (without its Primary, Fallback, Health, Spool and
// Status, which run connects).
type failoverPlan struct {
	Spool    spool.Config
	Probe    failover.ProbeConfig
	Failover failover.Config
}

// Client ids of the gateway's own upstream connections. Each carries the
// gateway id, so that two gateways on one broker do not take each other's
// connections (a broker drops the older of two connections with one
// client id). The paho upstream puts client_id_prefix before the
// aggregator's and the replay session's; the probe's gets it here.
func aggregatorClientID(gwID int) string { return fmt.Sprintf("snbridge-gw%d-aggregator", gwID) }
func replayClientID(gwID int) string     { return fmt.Sprintf("snbridge-gw%d-replay", gwID) }
func probeClientID(prefix string, gwID int) string {
	return fmt.Sprintf("%ssnbridge-gw%d-probe", prefix, gwID)
}

// newPlan maps cfg onto the parts' configurations.
func newPlan(cfg config.Config, log zerolog.Logger) (plan, error) {
	var p plan
	for _, u := range cfg.Transport.UDP {
		p.UDP = append(p.UDP, udp.Config{
			Listen:     u.Listen,
			Broadcast:  u.Broadcast,
			RecvBuffer: int(u.RecvBuffer.Int64()),
			Logger:     log,
		})
	}
	for _, x := range cfg.Transport.XBee {
		p.XBee = append(p.XBee, xbee.Config{
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
	}
	p.Broker = embedded.Config{
		Listen: cfg.Broker.Listen,
		// QoS 1/2 messages kept per detached persistent session of a local
		// MQTT client or an MQTT-SN client on the embedded broker; beyond
		// it the oldest is dropped and counted (no config key).
		MaxPending: embedded.DefaultMaxPending,
		Logger:     log,
	}
	p.Gateway = gatewayConfig(cfg, log)
	if cfg.Standalone() {
		return p, nil
	}
	remote, err := remoteConfig(cfg, log)
	if err != nil {
		return plan{}, err
	}
	p.Remote = &remote
	if cfg.Fallback.Enabled {
		p.Failover = newFailoverPlan(cfg, log)
		p.Remote.CloseTimeout = failoverCloseTimeout
	}
	return p, nil
}

// gatewayConfig maps the [gateway] and [[predefined]] settings onto the
// gateway's Config.
func gatewayConfig(cfg config.Config, log zerolog.Logger) bridge.Config {
	gc := cfg.Gateway
	bc := bridge.Config{
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

// remoteConfig maps [upstream] and the [gateway] mode onto paho's Config.
func remoteConfig(cfg config.Config, log zerolog.Logger) (paho.Config, error) {
	mode, err := paho.ParseMode(cfg.Gateway.Mode)
	if err != nil {
		return paho.Config{}, fmt.Errorf("gateway.mode: %w", err)
	}
	u := cfg.Upstream
	pc := paho.Config{
		URL:                u.URL,
		Username:           u.Username,
		Password:           u.Password,
		ClientIDPrefix:     u.ClientIDPrefix,
		CAFile:             u.CAFile,
		CertFile:           u.CertFile,
		KeyFile:            u.KeyFile,
		ServerName:         u.ServerName,
		Mode:               mode,
		AggregatorClientID: aggregatorClientID(cfg.Gateway.ID),
		// QoS 1/2 messages kept for one disconnected persistent session in
		// aggregating mode until its client returns; beyond it the oldest
		// is dropped and counted (no config key).
		MaxPending: paho.DefaultMaxPending,
		Logger:     log,
	}
	if len(u.Credentials) > 0 {
		pc.Credentials = make(map[string]paho.Credential, len(u.Credentials))
		for _, c := range u.Credentials {
			pc.Credentials[c.ClientID] = paho.Credential{Username: c.Username, Password: c.Password}
		}
	}
	return pc, nil
}

// newFailoverPlan maps [fallback] (with [upstream] for the probe).
func newFailoverPlan(cfg config.Config, log zerolog.Logger) *failoverPlan {
	f, u := cfg.Fallback, cfg.Upstream
	overflow := spool.Reject
	if f.Overflow == config.OverflowDropOldest {
		overflow = spool.DropOldest
	}
	return &failoverPlan{
		Spool: spool.Config{
			Path:     filepath.Join(f.DataDir, spoolFile),
			MaxBytes: f.SpoolMaxBytes.Int64(),
			MaxAge:   f.SpoolMaxAge.Std(),
			Overflow: overflow,
			Logger:   log,
		},
		Probe: failover.ProbeConfig{
			URL:        u.URL,
			CAFile:     u.CAFile,
			CertFile:   u.CertFile,
			KeyFile:    u.KeyFile,
			ServerName: u.ServerName,
			Username:   u.Username,
			Password:   u.Password,
			ClientID:   probeClientID(u.ClientIDPrefix, cfg.Gateway.ID),
			Logger:     log,
		},
		Failover: failover.Config{
			SpoolQoS0:      f.SpoolQoS0,
			ReplayRate:     f.ReplayRate,
			ReplayClientID: replayClientID(cfg.Gateway.ID),
			StatusTopic:    f.StatusTopic,
			RunPrimary:     true,
			Logger:         log,
		},
	}
}
