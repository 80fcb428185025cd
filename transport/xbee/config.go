package xbee

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"go.bug.st/serial"
)

// Serial settings of a [Config].
const (
	ParityNone = "none"
	ParityEven = "even"
	ParityOdd  = "odd"

	FlowNone   = "none"
	FlowRTSCTS = "rtscts"
)

// Defaults of a [Config].
const (
	DefaultBaud         = 9600
	DefaultAPIMode      = 2
	DefaultMaxPayload   = 84 // ZigBee unicast RF payload without fragmentation
	DefaultQueueLen     = 64
	DefaultFrameTimeout = 250 * time.Millisecond
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
)

// maxRFPayload is the largest RF payload an XBee Zigbee radio carries
// (with fragmentation).
const maxRFPayload = 255

// Baud rates a serial port and an XBee radio agree on.
var baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// Config configures a [Conn]. It maps onto a [[transport.xbee]] TOML
// table; a zero field takes its default (so only Device is required).
type Config struct {
	Device      string // serial device path, e.g. /dev/ttyUSB0 (a symlink is fine)
	Baud        int    // default 9600; one of 1200..921600
	APIMode     int    // 1 (unescaped) or 2 (escaped); default 2; must match the radio's AP
	DataBits    int    // 5..8, default 8
	Parity      string // ParityNone (default), ParityEven or ParityOdd
	StopBits    int    // 1 (default) or 2
	FlowControl string // FlowNone (default) or FlowRTSCTS
	MaxPayload  int    // largest datagram WriteTo sends, 1..255; default 84

	// QueueLen is how many datagrams are buffered each way: received but
	// not yet read, and written but not yet on the wire. Default 64.
	QueueLen int
	// FrameTimeout is the quiet time after which a partial frame from the
	// radio is given up. Default 250ms.
	FrameTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between attempts to open
	// the device (doubling after each failure). Defaults 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// ExitOnError makes Run return the first error opening or using the
	// device instead of retrying: for one-shot client tools.
	ExitOnError bool

	// Logger receives the transport's logs; the zero value is disabled.
	Logger zerolog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Baud, DefaultBaud)
	def(&c.APIMode, DefaultAPIMode)
	def(&c.DataBits, 8)
	def(&c.StopBits, 1)
	def(&c.MaxPayload, DefaultMaxPayload)
	def(&c.QueueLen, DefaultQueueLen)
	if c.Parity == "" {
		c.Parity = ParityNone
	}
	if c.FlowControl == "" {
		c.FlowControl = FlowNone
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, each
// prefixed by its TOML key: "baud: unsupported rate 12345".
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.Device == "" {
		add("device", "required (e.g. \"/dev/ttyUSB0\")")
	}
	if !slices.Contains(baudRates, c.Baud) {
		add("baud", "unsupported rate %d", c.Baud)
	}
	if c.APIMode != 1 && c.APIMode != 2 {
		add("api_mode", "%d is not 1 (unescaped) or 2 (escaped)", c.APIMode)
	}
	if c.DataBits < 5 || c.DataBits > 8 {
		add("data_bits", "%d out of range 5..8", c.DataBits)
	}
	if _, err := c.parity(); err != nil {
		add("parity", "%q is not %q, %q or %q", c.Parity, ParityNone, ParityEven, ParityOdd)
	}
	if c.StopBits != 1 && c.StopBits != 2 {
		add("stop_bits", "%d is not 1 or 2", c.StopBits)
	}
	if c.FlowControl != FlowNone && c.FlowControl != FlowRTSCTS {
		add("flow_control", "%q is not %q or %q", c.FlowControl, FlowNone, FlowRTSCTS)
	}
	if c.MaxPayload < 1 || c.MaxPayload > maxRFPayload {
		add("max_payload", "%d out of range 1..%d bytes", c.MaxPayload, maxRFPayload)
	}
	if c.QueueLen < 1 {
		add("queue_len", "%d is not positive", c.QueueLen)
	}
	if c.FrameTimeout < 0 || c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin {
		add("timeouts", "frame timeout %v, back-off %v..%v: negative or inverted", c.FrameTimeout, c.BackoffMin, c.BackoffMax)
	}
	return errors.Join(errs...)
}

func (c Config) parity() (serial.Parity, error) {
	switch c.Parity {
	case ParityNone:
		return serial.NoParity, nil
	case ParityEven:
		return serial.EvenParity, nil
	case ParityOdd:
		return serial.OddParity, nil
	}
	return 0, fmt.Errorf("xbee: unknown parity %q", c.Parity)
}

// mode returns the go.bug.st/serial mode of a valid, defaulted c.
func (c Config) mode() *serial.Mode {
	p, _ := c.parity()
	stop := serial.OneStopBit
	if c.StopBits == 2 {
		stop = serial.TwoStopBits
	}
	return &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: p, StopBits: stop}
}
