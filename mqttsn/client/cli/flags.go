package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/xbee"
)

// Duration is a flag value in seconds, mosquitto style ("30", "0.5"), or
// a Go duration ("30s", "1m30s").
type Duration time.Duration

func (d *Duration) String() string { return time.Duration(*d).String() }

// Set parses seconds or a Go duration.
func (d *Duration) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return errors.New("negative duration")
		}
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is neither seconds nor a duration like 30s", s)
	}
	*d = Duration(v)
	return nil
}

// Common are the flags every client tool has.
type Common struct {
	Host        string
	Port        int
	ClientID    string
	KeepAlive   Duration
	NoClean     bool
	Debug       bool
	XBee        string // serial device; empty = UDP
	Baud        int
	APIMode     int
	XBeeGateway string // EUI-64 of the gateway's radio; default the coordinator
	Encapsulate string // Wireless Node Id: 0x-prefixed hex, or the octets of the string
}

// Add declares the common flags on fs. -h is the host, as in mosquitto_pub,
// so usage is --help.
func (c *Common) Add(fs *flag.FlagSet, defaultID string) {
	c.KeepAlive = Duration(60 * time.Second)
	fs.StringVar(&c.Host, "h", "localhost", "gateway `host`")
	fs.IntVar(&c.Port, "p", 1884, "gateway UDP `port`")
	fs.StringVar(&c.ClientID, "i", defaultID, "client `id` (1..23 characters)")
	fs.Var(&c.KeepAlive, "k", "keep-alive in `seconds` (or a duration like 90s)")
	fs.BoolVar(&c.NoClean, "c", false, "no clean session: keep the session (subscriptions, buffered messages) at the gateway")
	fs.BoolVar(&c.Debug, "d", false, "debug: print every packet sent and received, decoded, on stderr")
	fs.StringVar(&c.XBee, "xbee", "", "send through an XBee radio in API mode on this serial `device` instead of UDP")
	fs.IntVar(&c.Baud, "baud", xbee.DefaultBaud, "XBee serial `rate`")
	fs.IntVar(&c.APIMode, "api-mode", xbee.DefaultAPIMode, "XBee API `mode`: 1 (unescaped) or 2 (escaped), as the radio's AP setting")
	fs.StringVar(&c.XBeeGateway, "xbee-gateway", "0000000000000000", "EUI-64 of the gateway's radio (default the coordinator)")
	fs.StringVar(&c.Encapsulate, "encapsulate", "", "wrap every message in Forwarder Encapsulation with this Wireless Node `id` (0x-prefixed hex, or text)")
}

// NodeID returns the Wireless Node Id of --encapsulate, or nil.
func (c *Common) NodeID() ([]byte, error) {
	s := c.Encapsulate
	if s == "" {
		return nil, nil
	}
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("--encapsulate %q: not hex", s)
		}
		return b, nil
	}
	return []byte(s), nil
}

// Transport is the open way to the gateway.
type Transport struct {
	Conn    transport.Conn
	Gateway transport.Addr

	cancel context.CancelFunc
	wg     sync.WaitGroup
	runErr error
}

// Open opens UDP towards -h/-p, or the XBee radio of --xbee (whose
// background loop runs until [Transport.Wait]), waiting for the radio to
// be ready until ctx ends.
func (c *Common) Open(ctx context.Context, log zerolog.Logger) (*Transport, error) {
	if c.XBee != "" {
		return c.openXBee(ctx, log)
	}
	ap, err := resolve(ctx, c.Host, c.Port)
	if err != nil {
		return nil, err
	}
	conn, err := ListenUDP(ap)
	if err != nil {
		return nil, err
	}
	return &Transport{Conn: conn, Gateway: transport.UDPAddr(ap), cancel: func() {}}, nil
}

func resolve(ctx context.Context, host string, port int) (netip.AddrPort, error) {
	if port <= 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs { // prefer IPv4, as mosquitto_pub does for localhost
		if a.Unmap().Is4() {
			return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
		}
	}
	return netip.AddrPortFrom(addrs[0], uint16(port)), nil
}

func (c *Common) openXBee(ctx context.Context, log zerolog.Logger) (*Transport, error) {
	eui, err := xbee.ParseEUI64(c.XBeeGateway)
	if err != nil {
		return nil, fmt.Errorf("--xbee-gateway: %w", err)
	}
	conn, err := xbee.New(xbee.Config{Device: c.XBee, Baud: c.Baud, APIMode: c.APIMode, ExitOnError: true, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--xbee %s: %w", c.XBee, err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &Transport{Conn: conn, Gateway: transport.XBeeAddr(eui), cancel: cancel}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.runErr = conn.Run(rctx)
	}()
	if err := conn.WaitConnected(ctx); err != nil {
		cancel()
		conn.Close()
		t.wg.Wait()
		if t.runErr != nil {
			err = t.runErr
		}
		return nil, fmt.Errorf("--xbee %s: %w", c.XBee, err)
	}
	return t, nil
}

// Wait stops the transport's background loop (XBee) and waits for it. Call
// it after the client that owns Conn is closed.
func (t *Transport) Wait() error {
	t.cancel()
	t.wg.Wait()
	if t.runErr != nil && !errors.Is(t.runErr, context.Canceled) {
		return t.runErr
	}
	return nil
}

// ClientConfig returns a client.Config from the common flags.
func (c *Common) ClientConfig(tr *Transport, stderr io.Writer) (client.Config, error) {
	node, err := c.NodeID()
	if err != nil {
		return client.Config{}, err
	}
	if len(c.ClientID) == 0 || len(c.ClientID) > mqttsn.MaxClientIDLen {
		return client.Config{}, fmt.Errorf("-i %q: a client id has 1..23 characters", c.ClientID)
	}
	cfg := client.Config{
		Gateway:      tr.Gateway,
		ClientID:     c.ClientID,
		KeepAlive:    time.Duration(c.KeepAlive),
		CleanSession: !c.NoClean,
		NodeID:       node,
	}
	if c.Debug {
		cfg.Debug = DebugPrinter(stderr)
	}
	return cfg, nil
}

// DebugPrinter returns a client.Config.Debug hook printing one line per
// packet on w: "sent CONNECT ..." / "received CONNACK ...".
func DebugPrinter(w io.Writer) func(client.Direction, *mqttsn.Packet) {
	var mu sync.Mutex
	return func(d client.Direction, p *mqttsn.Packet) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %-8s %s\n", time.Now().Format("15:04:05.000"), d, p)
	}
}

// Words returns the error as the tools print it: a gateway's refusal as
// its return code in words ("rejected: invalid topic id"), other errors
// as they are.
func Words(err error) string {
	var rej *client.RejectedError
	if errors.As(err, &rej) {
		return rej.Code.String()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// ParseQoS parses -q: -1, 0, 1 or 2.
func ParseQoS(q int, allowMinus1 bool) (mqttsn.QoS, error) {
	switch {
	case q == -1 && allowMinus1, q >= 0 && q <= 2:
		return mqttsn.QoS(q), nil
	}
	if allowMinus1 {
		return 0, fmt.Errorf("-q %d: QoS is -1, 0, 1 or 2", q)
	}
	return 0, fmt.Errorf("-q %d: QoS is 0, 1 or 2", q)
}

// Exit statuses shared by the tools: 0 success, 2 bad usage (as
// mosquitto_pub and mosquitto_sub).
const (
	ExitOK    = 0
	ExitUsage = 2
)

// ParseArgs parses args into fs with usage as the first line of --help,
// then runs check. ok is true when the command is to go on; otherwise
// code is its exit status (ExitOK for --help, ExitUsage for a bad flag or
// a failed check, which is printed as "name: err" on stderr).
func ParseArgs(fs *flag.FlagSet, args []string, name, usage string, check func() error, stderr io.Writer) (code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if err := check(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage, false
	}
	return 0, true
}
