package failover

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
)

// Defaults for the zero ProbeConfig fields.
const (
	DefaultProbeClientID  = "snbridge-probe"
	DefaultProbeInterval  = 5 * time.Second
	DefaultProbeKeepAlive = 10 * time.Second
)

// ProbeConfig configures a [Probe].
type ProbeConfig struct {
	// URL of the primary broker: tcp://host:port or ssl://host:port
	// (paho's spellings; tls:// and mqtts:// work too).
	URL string
	// TLS is the client TLS configuration for ssl:// URLs; when nil and
	// CAFile, CertFile or KeyFile is set, one is built from those files
	// (the [upstream] settings, as bridge/paho reads them).
	TLS        *tls.Config
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	Username   string
	Password   string
	// ClientID of the probe's connection; "" means DefaultProbeClientID.
	ClientID string
	// Interval between connection attempts while the broker is down; 0
	// means DefaultProbeInterval.
	Interval time.Duration
	// KeepAlive of the probe's connection: a link that dies silently is
	// noticed within about 1.5 times it. 0 means DefaultProbeKeepAlive.
	KeepAlive time.Duration
	Logger    zerolog.Logger
}

// Probe is a [Health] monitor: an MQTT connection of its own to the
// primary broker (clean session, no subscriptions) whose connects and
// losses are the up and down reports.
type Probe struct {
	cfg ProbeConfig
	log zerolog.Logger
}

// NewProbe checks cfg and returns a Probe; it connects nothing.
func NewProbe(cfg ProbeConfig) (*Probe, error) {
	if cfg.URL == "" {
		return nil, errors.New("failover: probe: no url")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultProbeClientID
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultProbeInterval
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultProbeKeepAlive
	}
	if cfg.TLS == nil && (cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.ServerName != "") {
		tc, err := tlsFiles(cfg.CAFile, cfg.CertFile, cfg.KeyFile, cfg.ServerName)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return &Probe{cfg: cfg, log: cfg.Logger.With().Str("component", "bridge/failover").Str("upstream", cfg.URL).Logger()}, nil
}

// Run implements [Health].
func (p *Probe) Run(ctx context.Context, report func(up bool)) error {
	o := mqtt.NewClientOptions().
		AddBroker(p.cfg.URL).
		SetClientID(p.cfg.ClientID).
		SetUsername(p.cfg.Username).
		SetPassword(p.cfg.Password).
		SetCleanSession(true).
		SetKeepAlive(p.cfg.KeepAlive).
		SetPingTimeout(p.cfg.KeepAlive / 2).
		SetConnectTimeout(p.cfg.KeepAlive).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(p.cfg.Interval).
		SetMaxReconnectInterval(p.cfg.Interval).
		SetOnConnectHandler(func(mqtt.Client) {
			p.log.Debug().Msg("probe connected")
			report(true)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.log.Debug().Err(err).Msg("probe connection lost")
			report(false)
		})
	if p.cfg.TLS != nil {
		o.SetTLSConfig(p.cfg.TLS)
	}
	c := mqtt.NewClient(o)
	c.Connect() // retries until connected or disconnected
	<-ctx.Done()
	c.Disconnect(0)
	return nil
}

// tlsFiles builds a client TLS configuration from PEM files.
func tlsFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("failover: probe: ca file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failover: probe: ca file %s: no PEM certificate found", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("failover: probe: cert file and key file go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("failover: probe: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
