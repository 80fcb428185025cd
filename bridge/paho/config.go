package paho

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
)

// Mode says how MQTT-SN clients map onto upstream connections.
type Mode uint8

const (
	// Transparent gives every MQTT-SN client its own MQTT connection.
	Transparent Mode = iota
	// Aggregating carries all clients over one shared MQTT connection.
	Aggregating
)

// ParseMode parses "transparent" or "aggregating" ("" is transparent).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "transparent":
		return Transparent, nil
	case "aggregating":
		return Aggregating, nil
	}
	return 0, fmt.Errorf("paho: unknown mode %q (want transparent or aggregating)", s)
}

func (m Mode) String() string {
	if m == Aggregating {
		return "aggregating"
	}
	return "transparent"
}

// Credential is a username and password for the upstream broker.
type Credential struct {
	Username string
	Password string
}

// Defaults for the zero Config fields.
const (
	DefaultConnectTimeout       = 10 * time.Second
	DefaultMaxReconnectInterval = 30 * time.Second
	DefaultOpenTimeout          = 10 * time.Second
	DefaultCloseTimeout         = 5 * time.Second
	DefaultKeepAlive            = 60 * time.Second
	DefaultAggregatorClientID   = "snbridge-aggregator"
	// DefaultMaxPending is Config.MaxPending when zero.
	DefaultMaxPending = 1000
)

// Keepalive bounds for transparent sessions: the client's keepalive is
// clamped into [MinKeepAlive, MaxKeepAlive]; a client keepalive of 0
// (none) gives DefaultKeepAlive.
const (
	MinKeepAlive = 10 * time.Second
	MaxKeepAlive = 300 * time.Second
)

// Config configures an [Upstream]. Zero durations take the defaults above.
type Config struct {
	// URL of the broker: tcp://host:port (mqtt://), or tls://host:port
	// (ssl://, mqtts://).
	URL string
	// Username and Password are the gateway's own credentials.
	Username string
	Password string
	// Credentials holds per-client credentials by MQTT-SN client id
	// (transparent mode). A client's ClientInfo.Username wins over this
	// map, which wins over Username/Password.
	Credentials map[string]Credential
	// ClientIDPrefix is put before every MQTT client id.
	ClientIDPrefix string

	// CAFile is a PEM file of CAs that verify the broker; "" means the
	// system roots. CertFile and KeyFile are the client certificate.
	CAFile   string
	CertFile string
	KeyFile  string
	// ServerName is the name verified in the broker's certificate; ""
	// means the URL's host.
	ServerName string

	Mode Mode
	// AggregatorClientID is the shared connection's client id after the
	// prefix; "" means DefaultAggregatorClientID.
	AggregatorClientID string
	// KeepAlive of the shared connection (aggregating mode).
	KeepAlive time.Duration
	// MinKeepAlive, when > 0, replaces the MinKeepAlive bound of
	// transparent sessions' keepalives (for tests that watch an upstream
	// session outlive its keepalive without waiting tens of seconds).
	// 0 means MinKeepAlive.
	MinKeepAlive time.Duration
	// MaxPending bounds the QoS 1 and 2 messages kept for one
	// disconnected persistent session (aggregating mode) until its client
	// comes back; beyond it the oldest is dropped and counted
	// ([Upstream.Dropped]). 0 means DefaultMaxPending; negative is an
	// error.
	MaxPending int

	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps paho's reconnect back-off (it starts at
	// 1 s, or this if smaller, and doubles).
	MaxReconnectInterval time.Duration
	// OpenTimeout bounds how long an Open waits for the shared connection
	// (aggregating mode) before it fails.
	OpenTimeout time.Duration
	// CloseTimeout bounds how long a Close waits for the session's
	// outstanding operations before they fail.
	CloseTimeout time.Duration

	Logger zerolog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.MaxReconnectInterval, DefaultMaxReconnectInterval)
	def(&c.OpenTimeout, DefaultOpenTimeout)
	def(&c.CloseTimeout, DefaultCloseTimeout)
	def(&c.KeepAlive, DefaultKeepAlive)
	if c.AggregatorClientID == "" {
		c.AggregatorClientID = DefaultAggregatorClientID
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
}

// brokerURL checks the URL and returns it in paho's spelling and whether
// it asks for TLS.
func brokerURL(raw string) (string, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("paho: url %q: %w", raw, err)
	}
	if u.Host == "" || u.Port() == "" {
		return "", false, fmt.Errorf("paho: url %q: want scheme://host:port", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		return "tcp://" + u.Host, false, nil
	case "tls", "ssl", "mqtts":
		return "ssl://" + u.Host, true, nil
	}
	return "", false, fmt.Errorf("paho: url %q: unsupported scheme %q (want tcp or tls)", raw, u.Scheme)
}

// tlsConfig builds the TLS configuration from the files in c.
func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("paho: ca file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("paho: ca file %s: no PEM certificate found", c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("paho: cert file and key file go together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("paho: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// keepAlive maps an MQTT-SN client's keepalive onto its upstream session.
// paho pings on its own, so the upstream session stays alive while the
// client sleeps or is quiet; the client's own keepalive is supervised by
// the gateway.
func keepAlive(client time.Duration) time.Duration {
	if client <= 0 {
		return DefaultKeepAlive
	}
	return min(max(client, MinKeepAlive), MaxKeepAlive)
}

// sessionKeepAlive is keepAlive with Config.MinKeepAlive as the lower
// bound when it is set.
func (c *Config) sessionKeepAlive(client time.Duration) time.Duration {
	if c.MinKeepAlive > 0 && client > 0 && client < MinKeepAlive {
		return max(client, c.MinKeepAlive)
	}
	return keepAlive(client)
}

// credentials picks the credentials for a client (see Config.Credentials).
func (c *Config) credentials(id, user, pass string) (string, string) {
	if user != "" {
		return user, pass
	}
	if cr, ok := c.Credentials[id]; ok {
		return cr.Username, cr.Password
	}
	return c.Username, c.Password
}

// SetLogger routes paho.mqtt.golang's package-level loggers to l: ERROR
// and CRITICAL at error, WARN at warn, DEBUG at trace. They are global to
// the process, so this is a function for main to call once, not part of
// Config.
func SetLogger(l zerolog.Logger) {
	l = l.With().Str("component", "paho").Logger()
	mqtt.CRITICAL = pahoLogger{l: l, lvl: zerolog.ErrorLevel}
	mqtt.ERROR = pahoLogger{l: l, lvl: zerolog.ErrorLevel}
	mqtt.WARN = pahoLogger{l: l, lvl: zerolog.WarnLevel}
	if l.GetLevel() <= zerolog.TraceLevel {
		mqtt.DEBUG = pahoLogger{l: l, lvl: zerolog.TraceLevel}
	}
}

// pahoLogger adapts zerolog to paho's Println/Printf logger; the only
// place where a log message is not a constant phrase.
type pahoLogger struct {
	l   zerolog.Logger
	lvl zerolog.Level
}

func (p pahoLogger) Println(v ...any) {
	p.l.WithLevel(p.lvl).Msg(strings.TrimSpace(fmt.Sprintln(v...)))
}

func (p pahoLogger) Printf(format string, v ...any) { p.l.WithLevel(p.lvl).Msgf(format, v...) }
