package config

import (
	"fmt"
	"io"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole snbridge configuration. Its fields mirror the TOML
// file one to one; the toml tags are the exact key names.
type Config struct {
	Gateway    Gateway      `toml:"gateway"`
	Transport  Transport    `toml:"transport"`
	Upstream   Upstream     `toml:"upstream"`
	Broker     Broker       `toml:"broker"`
	Fallback   Fallback     `toml:"fallback"`
	Predefined []Predefined `toml:"predefined"`
	Log        Log          `toml:"log"`
}

// Gateway modes.
const (
	ModeTransparent = "transparent" // one upstream MQTT session per MQTT-SN client
	ModeAggregating = "aggregating" // one shared upstream session for all clients
)

// Gateway is the [gateway] table.
type Gateway struct {
	ID                int      `toml:"id"`                 // GwId in ADVERTISE/GWINFO, 0..255
	Mode              string   `toml:"mode"`               // ModeTransparent | ModeAggregating
	MaxClients        int      `toml:"max_clients"`        // connected clients at most; more get congestion
	MaxTopics         int      `toml:"max_topics"`         // registered topic ids per client at most
	MaxInflight       int      `toml:"max_inflight"`       // unacknowledged QoS 1/2 messages per client at most
	AdvertiseInterval Duration `toml:"advertise_interval"` // ADVERTISE period; 0 = never advertise
	RetryInterval     Duration `toml:"retry_interval"`     // Tretry [MQTT-SN 1.2 §6.13]
	RetryCount        int      `toml:"retry_count"`        // Nretry [MQTT-SN 1.2 §6.13]
	SleepBuffer       int      `toml:"sleep_buffer"`       // messages buffered per sleeping client
	BufferQoS0        bool     `toml:"buffer_qos0"`        // buffer QoS 0 messages for sleeping clients too
}

// Transport is the [transport] table: any number of UDP sockets and XBee
// radios, all served at once.
type Transport struct {
	UDP  []UDP  `toml:"udp"`
	XBee []XBee `toml:"xbee"`
}

// UDP is one [[transport.udp]] listener.
type UDP struct {
	Listen     string   `toml:"listen"`      // host:port, "[::]:1884" for IPv6
	Broadcast  string   `toml:"broadcast"`   // ip:port for ADVERTISE/GWINFO broadcasts; "" = none
	RecvBuffer ByteSize `toml:"recv_buffer"` // SO_RCVBUF; 0 = OS default
}

// XBee serial settings.
const (
	ParityNone = "none"
	ParityEven = "even"
	ParityOdd  = "odd"

	FlowNone   = "none"
	FlowRTSCTS = "rtscts"
)

// XBee is one [[transport.xbee]] radio on a serial port. Keys left out of
// an entry take the values of DefaultXBee.
type XBee struct {
	Device      string `toml:"device"`       // serial device path, e.g. /dev/ttyUSB0
	Baud        int    `toml:"baud"`         // a standard rate, 1200..921600
	APIMode     int    `toml:"api_mode"`     // 1 (unescaped) or 2 (escaped)
	DataBits    int    `toml:"data_bits"`    // 5..8
	Parity      string `toml:"parity"`       // ParityNone | ParityEven | ParityOdd
	StopBits    int    `toml:"stop_bits"`    // 1 or 2
	FlowControl string `toml:"flow_control"` // FlowNone | FlowRTSCTS
	MaxPayload  int    `toml:"max_payload"`  // RF payload bytes per frame, 1..255
}

// Upstream is the [upstream] table. An empty URL means standalone mode:
// sessions live on the embedded broker.
type Upstream struct {
	URL            string       `toml:"url"` // tcp|mqtt://host:port or tls|ssl|mqtts://host:port
	Username       string       `toml:"username"`
	Password       string       `toml:"password"`
	ClientIDPrefix string       `toml:"client_id_prefix"` // prepended to the MQTT-SN ClientId upstream
	CAFile         string       `toml:"ca_file"`          // PEM CA bundle; "" = system roots
	CertFile       string       `toml:"cert_file"`        // PEM client certificate (with key_file)
	KeyFile        string       `toml:"key_file"`         // PEM client key (with cert_file)
	ServerName     string       `toml:"server_name"`      // TLS server name to verify; "" = the URL's host
	Credentials    []Credential `toml:"credentials"`
}

// Credential is one [[upstream.credentials]] entry: the upstream username
// and password used for one MQTT-SN client instead of the gateway's.
type Credential struct {
	ClientID string `toml:"client_id"`
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// Broker is the [broker] table of the embedded broker.
type Broker struct {
	Listen string `toml:"listen"` // local MQTT TCP listener; "" disables it
}

// Fallback overflow policies.
const (
	OverflowReject     = "reject"      // the sensor gets congestion (0x01)
	OverflowDropOldest = "drop-oldest" // the oldest spooled message is dropped
)

// Fallback is the [fallback] table: offline operation on the embedded
// broker with a durable spool.
type Fallback struct {
	Enabled       bool     `toml:"enabled"`
	DataDir       string   `toml:"data_dir"` // sessions, broker store, spool; "" = nothing persisted
	SpoolMaxBytes ByteSize `toml:"spool_max_bytes"`
	SpoolMaxAge   Duration `toml:"spool_max_age"`
	Overflow      string   `toml:"overflow"`     // OverflowReject | OverflowDropOldest
	SpoolQoS0     bool     `toml:"spool_qos0"`   // spool QoS 0 and -1 too
	ReplayRate    int      `toml:"replay_rate"`  // messages per second; 0 = unlimited
	StatusTopic   string   `toml:"status_topic"` // retained uplink state topic
}

// Predefined is one [[predefined]] topic id. An empty ClientID makes it
// global; an entry for a ClientID takes precedence over a global entry
// with the same id for that client.
type Predefined struct {
	ID       int    `toml:"id"` // 1..65534
	Topic    string `toml:"topic"`
	ClientID string `toml:"client_id"`
}

// Log is the [log] table.
type Log struct {
	Level  string `toml:"level"`  // trace | debug | info | warn | error
	Format string `toml:"format"` // console | json
}

// DefaultXBee returns the values a [[transport.xbee]] entry takes for the
// keys it leaves out (Device has no default).
func DefaultXBee() XBee {
	return XBee{
		Baud:        9600,
		APIMode:     2,
		DataBits:    8,
		Parity:      ParityNone,
		StopBits:    1,
		FlowControl: FlowNone,
		MaxPayload:  84, // ZigBee unicast without fragmentation
	}
}

// DefaultUDPListen is the listener of the embedded default.
const DefaultUDPListen = "0.0.0.0:1884"

// Default returns the embedded default configuration: one UDP listener on
// 0.0.0.0:1884, standalone on the embedded broker with its MQTT listener
// on 127.0.0.1:1883, fallback disabled. Load starts from it, so every key
// a file leaves out keeps this value.
func Default() Config {
	return Config{
		Gateway: Gateway{
			ID:                1,
			Mode:              ModeTransparent,
			MaxClients:        10000,
			MaxTopics:         1000,
			MaxInflight:       32,
			AdvertiseInterval: Duration(15 * time.Minute),
			RetryInterval:     Duration(10 * time.Second),
			RetryCount:        3,
			SleepBuffer:       100,
			BufferQoS0:        false,
		},
		Transport: Transport{
			UDP: []UDP{{Listen: DefaultUDPListen}},
		},
		Broker: Broker{Listen: "127.0.0.1:1883"},
		Fallback: Fallback{
			Enabled:       false,
			DataDir:       "", // nothing persisted unless set
			SpoolMaxBytes: 256 << 20,
			SpoolMaxAge:   Duration(168 * time.Hour),
			Overflow:      OverflowReject,
			ReplayRate:    1000,
			StatusTopic:   "$SYS/snbridge/upstream",
		},
		Log: Log{Level: "info", Format: "console"},
	}
}

// Standalone reports whether no upstream broker is configured, so that
// sessions live on the embedded broker.
func (c Config) Standalone() bool { return c.Upstream.URL == "" }

// TLS reports whether the upstream URL asks for TLS (tls, ssl or mqtts).
func (u Upstream) TLS() bool {
	s, _, _ := splitScheme(u.URL)
	return tlsSchemes[s]
}

// CredentialFor returns the upstream username and password for an
// MQTT-SN client: its [[upstream.credentials]] entry if there is one,
// otherwise the gateway's.
func (u Upstream) CredentialFor(clientID string) (username, password string) {
	for _, c := range u.Credentials {
		if c.ClientID == clientID {
			return c.Username, c.Password
		}
	}
	return u.Username, u.Password
}

// Redacted returns a copy of c with every password replaced by "REDACTED",
// for printing.
func (c Config) Redacted() Config {
	const r = "REDACTED"
	if c.Upstream.Password != "" {
		c.Upstream.Password = r
	}
	if len(c.Upstream.Credentials) > 0 {
		creds := make([]Credential, len(c.Upstream.Credentials))
		copy(creds, c.Upstream.Credentials)
		for i := range creds {
			if creds[i].Password != "" {
				creds[i].Password = r
			}
		}
		c.Upstream.Credentials = creds
	}
	return c
}

// WriteTOML writes c as TOML that Load reads back to an equal Config
// (durations and sizes in their string forms). Use c.Redacted() first to
// keep passwords out of logs.
func (c Config) WriteTOML(w io.Writer) error {
	if err := toml.NewEncoder(w).Encode(c); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return nil
}
