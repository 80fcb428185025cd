package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// problems collects every validation problem, each prefixed by its TOML path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// Validate checks every value and returns errors.Join of ALL the problems,
// each prefixed by its TOML path ("transport.xbee[0].baud: unsupported
// rate 12345"), in the order of the keys in this package's types, followed
// by the features this build does not implement (see unimplemented.go).
// It returns nil when c is valid. It reads the TLS files it names.
func (c *Config) Validate() error {
	var p problems
	c.validateGateway(&p)
	c.validateTransport(&p)
	c.validateUpstream(&p)
	if c.Broker.Listen != "" {
		checkListen(&p, "broker.listen", c.Broker.Listen)
	}
	c.validateFallback(&p)
	c.validatePredefined(&p)
	if _, err := c.Log.ZerologLevel(); err != nil {
		p = append(p, err)
	}
	if c.Log.Format != FormatConsole && c.Log.Format != FormatJSON {
		p.add("log.format", "%q is not %q or %q", c.Log.Format, FormatConsole, FormatJSON)
	}
	p = append(p, unimplemented(c)...)
	return errors.Join(p...)
}

// maxAdvertise is the largest ADVERTISE Duration: a 2-octet number of
// seconds. [MQTT-SN 1.2 §5.4.2]
const maxAdvertise = math.MaxUint16 * time.Second

func (c *Config) validateGateway(p *problems) {
	g := c.Gateway
	if g.ID < 0 || g.ID > 255 {
		// GwId is one octet. [MQTT-SN 1.2 §5.4.2]
		p.add("gateway.id", "%d out of range 0..255", g.ID)
	}
	if g.Mode != ModeTransparent && g.Mode != ModeAggregating {
		p.add("gateway.mode", "%q is not %q or %q", g.Mode, ModeTransparent, ModeAggregating)
	}
	if g.MaxClients < 1 {
		p.add("gateway.max_clients", "%d must be at least 1", g.MaxClients)
	}
	// Topic ids 0x0000 and 0xFFFF are reserved. [MQTT-SN 1.2 §5.3.11]
	if g.MaxTopics < 1 || g.MaxTopics > 0xFFFE {
		p.add("gateway.max_topics", "%d out of range 1..65534", g.MaxTopics)
	}
	if g.MaxInflight < 1 || g.MaxInflight > math.MaxUint16 {
		p.add("gateway.max_inflight", "%d out of range 1..65535", g.MaxInflight)
	}
	switch a := g.AdvertiseInterval.Std(); {
	case a < 0 || a > maxAdvertise:
		p.add("gateway.advertise_interval", "%s out of range 0s..%s (0 = never advertise)", a, maxAdvertise)
	case a%time.Second != 0:
		p.add("gateway.advertise_interval", "%s is not a whole number of seconds", a)
	}
	if g.RetryInterval <= 0 {
		p.add("gateway.retry_interval", "%s must be positive", g.RetryInterval)
	}
	// N_retry: best practice 3..5 [MQTT-SN 1.2 §7.2 Table 30]; 0 would
	// resend nothing, and the session layer would silently turn it into
	// its default. [MQTT-SN 1.2 §6.13]
	if g.RetryCount < 1 {
		p.add("gateway.retry_count", "%d must be at least 1 (resends before a client is considered lost; the spec suggests 3..5)", g.RetryCount)
	}
	// A gateway that buffers nothing for a sleeping client does not support
	// sleeping clients. [MQTT-SN 1.2 §6.14]
	if g.SleepBuffer < 1 {
		p.add("gateway.sleep_buffer", "%d must be at least 1 (messages kept per sleeping client)", g.SleepBuffer)
	}
}

// Baud rates a serial port and an XBee radio agree on.
var baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

func (c *Config) validateTransport(p *problems) {
	t := c.Transport
	if len(t.UDP) == 0 && len(t.XBee) == 0 {
		p.add("transport", "no [[transport.udp]] or [[transport.xbee]] configured")
	}
	listens := map[string]int{}
	for i, u := range t.UDP {
		path := fmt.Sprintf("transport.udp[%d]", i)
		if key, ok := checkUDPListen(p, path+".listen", u.Listen); ok && key != "" {
			if j, dup := listens[key]; dup {
				p.add(path+".listen", "%q duplicates transport.udp[%d].listen", u.Listen, j)
			} else {
				listens[key] = i
			}
		}
		if u.Broadcast != "" {
			checkBroadcast(p, path+".broadcast", u.Broadcast)
		}
		if u.RecvBuffer < 0 || u.RecvBuffer > math.MaxInt32 {
			p.add(path+".recv_buffer", "%s out of range 0..2147483647 bytes (0 = OS default)", u.RecvBuffer)
		}
	}
	devices := map[string]int{}
	for i, x := range t.XBee {
		path := fmt.Sprintf("transport.xbee[%d]", i)
		if x.Device == "" {
			p.add(path+".device", "required (e.g. \"/dev/ttyUSB0\")")
		} else if j, dup := devices[x.Device]; dup {
			p.add(path+".device", "%q duplicates transport.xbee[%d].device", x.Device, j)
		} else {
			devices[x.Device] = i
		}
		if !slices.Contains(baudRates, x.Baud) {
			p.add(path+".baud", "unsupported rate %d (use one of %s)", x.Baud, joinInts(baudRates))
		}
		if x.APIMode != 1 && x.APIMode != 2 {
			p.add(path+".api_mode", "%d is not 1 (unescaped) or 2 (escaped)", x.APIMode)
		}
		if x.DataBits < 5 || x.DataBits > 8 {
			p.add(path+".data_bits", "%d out of range 5..8", x.DataBits)
		}
		if x.Parity != ParityNone && x.Parity != ParityEven && x.Parity != ParityOdd {
			p.add(path+".parity", "%q is not %q, %q or %q", x.Parity, ParityNone, ParityEven, ParityOdd)
		}
		if x.StopBits != 1 && x.StopBits != 2 {
			p.add(path+".stop_bits", "%d is not 1 or 2", x.StopBits)
		}
		if x.FlowControl != FlowNone && x.FlowControl != FlowRTSCTS {
			p.add(path+".flow_control", "%q is not %q or %q", x.FlowControl, FlowNone, FlowRTSCTS)
		}
		if x.MaxPayload < 1 || x.MaxPayload > 255 {
			p.add(path+".max_payload", "%d out of range 1..255 bytes", x.MaxPayload)
		}
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// checkListen checks a host:port to bind to. The host is empty (every
// address), an IP literal (IPv6 in brackets) or a host name; port 0 picks
// a free port. It returns a normalised key for duplicate detection ("" for
// port 0) and whether the address is valid.
func checkListen(p *problems, path, addr string) (string, bool) {
	if addr == "" {
		p.add(path, "required (host:port, e.g. \"0.0.0.0:1884\" or \"[::]:1884\")")
		return "", false
	}
	host, port, ok := splitHostPort(p, path, addr)
	if !ok {
		return "", false
	}
	if host != "" {
		if ip, err := netip.ParseAddr(host); err == nil {
			host = ip.Unmap().String()
		} else if !validHostname(host) {
			p.add(path, "%q: %q is not an IP address or host name", addr, host)
			return "", false
		}
	}
	if port == 0 {
		return "", true
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true
}

// checkUDPListen checks a UDP listen address like checkListen but takes
// no host name: the UDP transport binds ip:port, [ipv6]:port or :port, and
// a name that passed here would fail only when the daemon starts.
func checkUDPListen(p *problems, path, addr string) (string, bool) {
	if addr != "" {
		if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				p.add(path, "%q: %q is not an IP address (UDP listen takes ip:port, [ipv6]:port or :port)", addr, host)
				return "", false
			}
		}
	}
	return checkListen(p, path, addr)
}

// checkBroadcast checks a broadcast or multicast destination: an IP
// literal and a non-zero port.
func checkBroadcast(p *problems, path, addr string) {
	host, port, ok := splitHostPort(p, path, addr)
	if !ok {
		return
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() {
		p.add(path, "%q: host must be a broadcast or multicast IP address (e.g. \"255.255.255.255:1884\", \"225.1.1.1:1884\", \"[ff02::1]:1884\")", addr)
		return
	}
	if port == 0 {
		p.add(path, "%q: port must not be 0", addr)
	}
}

func splitHostPort(p *problems, path, addr string) (string, int, bool) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		hint := ""
		if strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[") {
			hint = " (put an IPv6 address in brackets: \"[::1]:1884\")"
		}
		p.add(path, "%q is not host:port%s", addr, hint)
		return "", 0, false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > math.MaxUint16 {
		p.add(path, "%q: port %q is not a number in 0..65535", addr, portStr)
		return "", 0, false
	}
	return host, port, true
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

var (
	upstreamSchemes = []string{"tcp", "mqtt", "tls", "ssl", "mqtts"}
	tlsSchemes      = map[string]bool{"tls": true, "ssl": true, "mqtts": true}
)

func splitScheme(raw string) (scheme, rest string, ok bool) {
	return strings.Cut(raw, "://")
}

func (c *Config) validateUpstream(p *problems) {
	u := c.Upstream
	if u.URL == "" {
		// Standalone: any other upstream key is a mistake worth reporting.
		for _, f := range []struct{ key, val string }{
			{"username", u.Username}, {"password", u.Password}, {"client_id_prefix", u.ClientIDPrefix},
			{"ca_file", u.CAFile}, {"cert_file", u.CertFile}, {"key_file", u.KeyFile}, {"server_name", u.ServerName},
		} {
			if f.val != "" {
				p.add("upstream."+f.key, "set but upstream.url is empty (standalone mode has no upstream)")
			}
		}
		if len(u.Credentials) > 0 {
			p.add("upstream.credentials", "set but upstream.url is empty (standalone mode has no upstream)")
		}
		return
	}
	isTLS := c.checkURL(p)
	if u.Password != "" && u.Username == "" {
		// MQTT 3.1.1 §3.1.2.9: no password without a user name.
		p.add("upstream.password", "set without upstream.username")
	}
	if isTLS {
		c.checkTLSFiles(p)
	} else {
		for _, f := range []struct{ key, val string }{
			{"ca_file", u.CAFile}, {"cert_file", u.CertFile}, {"key_file", u.KeyFile}, {"server_name", u.ServerName},
		} {
			if f.val != "" {
				p.add("upstream."+f.key, "set but upstream.url is not TLS (use tls://, ssl:// or mqtts://)")
			}
		}
	}
	ids := map[string]int{}
	for i, cr := range u.Credentials {
		path := fmt.Sprintf("upstream.credentials[%d]", i)
		if cr.ClientID == "" {
			p.add(path+".client_id", "required")
		} else if j, dup := ids[cr.ClientID]; dup {
			p.add(path+".client_id", "%q duplicates upstream.credentials[%d].client_id", cr.ClientID, j)
		} else {
			ids[cr.ClientID] = i
		}
		if cr.Username == "" {
			p.add(path+".username", "required")
		}
	}
}

// checkURL checks upstream.url and reports whether it asks for TLS.
func (c *Config) checkURL(p *problems) bool {
	raw := c.Upstream.URL
	const path = "upstream.url"
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		p.add(path, "%q is not scheme://host:port (e.g. \"tcp://broker.example:1883\")", raw)
		return false
	}
	if !slices.Contains(upstreamSchemes, u.Scheme) {
		p.add(path, "scheme %q is not one of %s", u.Scheme, strings.Join(upstreamSchemes, ", "))
		return false
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		p.add(path, "%q must be scheme://host:port with no user, path or query (credentials go in upstream.username and upstream.password)", raw)
	}
	if u.Hostname() == "" {
		p.add(path, "%q has no host", raw)
	}
	if port := u.Port(); port == "" {
		p.add(path, "%q has no port (e.g. \"%s://%s:1883\")", raw, u.Scheme, u.Hostname())
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > math.MaxUint16 {
		p.add(path, "%q: port %q is not a number in 1..65535", raw, port)
	}
	return tlsSchemes[u.Scheme]
}

func (c *Config) checkTLSFiles(p *problems) {
	u := c.Upstream
	if u.CAFile != "" {
		if pem, err := os.ReadFile(u.CAFile); err != nil {
			p.add("upstream.ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			p.add("upstream.ca_file", "%q holds no PEM certificate", u.CAFile)
		}
	}
	switch {
	case u.CertFile != "" && u.KeyFile == "":
		p.add("upstream.key_file", "required with upstream.cert_file")
	case u.CertFile == "" && u.KeyFile != "":
		p.add("upstream.cert_file", "required with upstream.key_file")
	case u.CertFile != "":
		certOK, keyOK := readable(p, "upstream.cert_file", u.CertFile), readable(p, "upstream.key_file", u.KeyFile)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(u.CertFile, u.KeyFile); err != nil {
				p.add("upstream.cert_file", "%q and %q are not a certificate and its key: %v", u.CertFile, u.KeyFile, err)
			}
		}
	}
}

func readable(p *problems, path, name string) bool {
	f, err := os.Open(name)
	if err != nil {
		p.add(path, "%v", err)
		return false
	}
	_ = f.Close()
	return true
}

func (c *Config) validateFallback(p *problems) {
	f := c.Fallback
	if f.Enabled && c.Standalone() {
		p.add("fallback.enabled", "needs upstream.url (standalone mode already runs on the embedded broker)")
	}
	if f.Enabled && f.DataDir == "" {
		p.add("fallback.data_dir", "required with fallback.enabled (the spool is kept there)")
	}
	if f.SpoolMaxBytes <= 0 {
		p.add("fallback.spool_max_bytes", "%s must be positive", f.SpoolMaxBytes)
	}
	if f.SpoolMaxAge <= 0 {
		p.add("fallback.spool_max_age", "%s must be positive", f.SpoolMaxAge)
	}
	if f.Overflow != OverflowReject && f.Overflow != OverflowDropOldest {
		p.add("fallback.overflow", "%q is not %q or %q", f.Overflow, OverflowReject, OverflowDropOldest)
	}
	if f.ReplayRate < 0 {
		p.add("fallback.replay_rate", "%d must not be negative (0 = unlimited)", f.ReplayRate)
	}
	if err := checkTopicName(f.StatusTopic); err != nil {
		p.add("fallback.status_topic", "%v", err)
	}
}

func (c *Config) validatePredefined(p *problems) {
	type scoped struct {
		client string
		id     int
	}
	type scopedTopic struct{ client, topic string }
	ids := map[scoped]int{}
	topics := map[scopedTopic]int{}
	scope := func(client string) string {
		if client == "" {
			return "global"
		}
		return fmt.Sprintf("for client %q", client)
	}
	for i, d := range c.Predefined {
		path := fmt.Sprintf("predefined[%d]", i)
		// Topic ids 0x0000 and 0xFFFF are reserved. [MQTT-SN 1.2 §5.3.11]
		if d.ID < 1 || d.ID > 0xFFFE {
			p.add(path+".id", "%d out of range 1..65534", d.ID)
		} else if j, dup := ids[scoped{d.ClientID, d.ID}]; dup {
			p.add(path+".id", "%d already used by predefined[%d] (%s)", d.ID, j, scope(d.ClientID))
		} else {
			ids[scoped{d.ClientID, d.ID}] = i
		}
		if err := checkTopicName(d.Topic); err != nil {
			p.add(path+".topic", "%v", err)
		} else if j, dup := topics[scopedTopic{d.ClientID, d.Topic}]; dup {
			p.add(path+".topic", "%q already has an id in predefined[%d] (%s)", d.Topic, j, scope(d.ClientID))
		} else {
			topics[scopedTopic{d.ClientID, d.Topic}] = i
		}
	}
}

// checkTopicName checks an MQTT topic name to publish to, with the
// codec's own rule so that config and gateway agree.
func checkTopicName(s string) error {
	if err := mqttsn.ValidateTopicName(s); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}
