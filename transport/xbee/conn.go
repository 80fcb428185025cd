package xbee

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.bug.st/serial"

	"github.com/snbridge/snbridge/transport"
)

// ErrNotConnected is returned (wrapped) by WriteTo while the device is not
// open: before Run opened it, or during an unplug.
var ErrNotConnected = errors.New("xbee: device not connected")

// ErrQueueFull is returned (wrapped) by WriteTo when QueueLen datagrams
// are already waiting for the serial port.
var ErrQueueFull = errors.New("xbee: transmit queue full")

// ErrTooLarge is returned (wrapped) by WriteTo for a datagram longer than
// MaxPayload.
var ErrTooLarge = errors.New("xbee: datagram exceeds max payload")

var errClosed = fmt.Errorf("xbee: %w", net.ErrClosed)

// txFailBurst is how many "transmit failed" lines are logged per 10 s at
// most, over all destinations.
const txFailBurst = 10

// maxPeers bounds the 16-bit address cache and the per-destination
// statistics, so that a flood of forged source addresses cannot grow
// them without limit.
const maxPeers = 1 << 16

// Conn is a [transport.Conn] over an XBee radio in API mode. Create it
// with [New], then call [Conn.Run], which opens the device, keeps it open
// across unplugs, and returns when its context is done or Close is called.
//
// ReadFrom, WriteTo and Close work whether or not the device is open at
// the moment: ReadFrom keeps blocking through an unplug, and WriteTo
// fails fast with [ErrNotConnected].
type Conn struct {
	cfg   Config
	mode  APIMode
	log   zerolog.Logger
	noisy zerolog.Logger // sampled, for radio garbage
	// txFailLog is sampled apart from noisy, so that a dead node's failed
	// transmissions and garbage on the line do not hide each other.
	txFailLog zerolog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	running   atomic.Bool

	// Receive path: the reader goroutine copies RF data into a free
	// buffer and queues its index; ReadFrom copies it out and frees it.
	rxBufs [][]byte
	rxFree chan int
	rxq    chan rxItem

	// Transmit path: WriteTo builds Transmit Request frame data in a free
	// buffer and queues it; the writer goroutine escapes and writes it.
	txBufs [][]byte
	txFree chan int
	txq    chan txItem

	// Owned by the reader goroutine (one at a time).
	dec  *Decoder
	rbuf []byte
	// Owned by the writer goroutine (one at a time).
	wbuf []byte

	mu      sync.Mutex
	port    serial.Port // nil while the device is not open
	stateCh chan struct{}
	nextID  uint8
	pending [256]pendingTx
	addr16  map[uint64]uint16
	local   [2]uint32 // SH, SL
	haveSH  bool
	haveSL  bool
	flush   *flushReq // the Flush marker in txq, at most one
	stats   Stats
	dest    map[transport.Addr]*DestStats
}

type rxItem struct {
	idx  int
	n    int
	from uint64
}

type txItem struct {
	idx int // into txBufs, or flushMarker
	n   int
}

// flushMarker is the txItem index of a Flush request.
const flushMarker = -1

// flushReq is a Flush waiting for the writer to reach its marker.
type flushReq struct {
	done chan struct{}
	err  error // set before done is closed
}

type pendingTx struct {
	to   transport.Addr
	used bool
}

var _ transport.Conn = (*Conn)(nil)

// New checks cfg and returns a Conn that is not yet open; it starts
// nothing. See [Config.Validate] for the checks.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("xbee: config: %w", err)
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "transport/xbee").Str("device", cfg.Device).Logger()
	maxFrame := max(DefaultMaxFrame, rxPacketHeader+maxRFPayload)
	c := &Conn{
		cfg:       cfg,
		mode:      APIMode(cfg.APIMode),
		log:       log,
		noisy:     log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		txFailLog: log.Sample(&zerolog.BurstSampler{Burst: txFailBurst, Period: 10 * time.Second}),
		closed:    make(chan struct{}),
		rxFree:    make(chan int, cfg.QueueLen),
		rxq:       make(chan rxItem, cfg.QueueLen),
		txFree:    make(chan int, cfg.QueueLen),
		txq:       make(chan txItem, cfg.QueueLen+1), // a slot per buffer, and one for a Flush
		dec:       NewDecoder(APIMode(cfg.APIMode), maxFrame),
		rbuf:      make([]byte, readChunk),
		wbuf:      make([]byte, 0, 2*(txRequestHdr+cfg.MaxPayload)+8),
		stateCh:   make(chan struct{}),
		addr16:    make(map[uint64]uint16),
		dest:      make(map[transport.Addr]*DestStats),
	}
	rx := make([]byte, cfg.QueueLen*maxFrame)
	tx := make([]byte, cfg.QueueLen*(txRequestHdr+cfg.MaxPayload))
	for i := range cfg.QueueLen {
		c.rxBufs = append(c.rxBufs, rx[i*maxFrame:(i+1)*maxFrame:(i+1)*maxFrame])
		n := txRequestHdr + cfg.MaxPayload
		c.txBufs = append(c.txBufs, tx[i*n:i*n:(i+1)*n])
		c.rxFree <- i
		c.txFree <- i
	}
	return c, nil
}

// LocalAddr returns the radio's own 64-bit address, read from it (AT SH
// and SL) each time the device is opened, or the zero Addr until the
// radio has answered.
func (c *Conn) LocalAddr() transport.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.haveSH || !c.haveSL {
		return transport.Addr{}
	}
	return transport.XBeeAddr(uint64(c.local[0])<<32 | uint64(c.local[1]))
}

// BroadcastAddr returns the Zigbee broadcast address 0x000000000000FFFF
// (sent with the 16-bit address 0xFFFE).
func (c *Conn) BroadcastAddr() transport.Addr { return transport.XBeeAddr(BroadcastEUI64) }

// MaxPayload returns the largest datagram WriteTo sends (Config.MaxPayload).
func (c *Conn) MaxPayload() int { return c.cfg.MaxPayload }

// Connected reports whether the device is open.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port != nil
}

// WaitConnected blocks until the device is open, ctx is done or the Conn
// is closed. Client tools call it after starting Run.
func (c *Conn) WaitConnected(ctx context.Context) error { return c.waitState(ctx, true) }

// WaitDisconnected blocks until the device is not open (unplugged, or not
// opened yet), ctx is done or the Conn is closed.
func (c *Conn) WaitDisconnected(ctx context.Context) error { return c.waitState(ctx, false) }

func (c *Conn) waitState(ctx context.Context, connected bool) error {
	for {
		c.mu.Lock()
		up, ch := c.port != nil, c.stateCh
		c.mu.Unlock()
		if up == connected {
			return nil
		}
		select {
		case <-ch:
		case <-c.closed:
			return errClosed
		case <-ctx.Done():
			return fmt.Errorf("xbee: wait for %s: %w", c.cfg.Device, ctx.Err())
		}
	}
}

// setPortLocked records the open port (or nil) and wakes waiters.
func (c *Conn) setPortLocked(p serial.Port) {
	c.port = p
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close closes the device and unblocks ReadFrom, which then returns an
// error wrapping net.ErrClosed; Run returns nil. It is safe to call more
// than once and from any goroutine.
func (c *Conn) Close() error {
	// Run's serve loop, which owns the port, sees this and closes it.
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// ReadFrom blocks until a datagram (the RF data of one Receive Packet)
// arrives and copies it into b; a longer datagram is truncated to len(b)
// (counted in Stats.RxTruncated). The sender is the radio's 64-bit
// address. ReadFrom keeps blocking while the device is unplugged; only
// Close ends it, with an error wrapping net.ErrClosed. Call it from one
// goroutine.
func (c *Conn) ReadFrom(b []byte) (int, transport.Addr, error) {
	if c.isClosed() {
		return 0, transport.Addr{}, errClosed
	}
	select {
	case it := <-c.rxq:
		n := copy(b, c.rxBufs[it.idx][:it.n])
		c.rxFree <- it.idx
		if n < it.n {
			c.mu.Lock()
			c.stats.RxTruncated++
			c.mu.Unlock()
		}
		return n, transport.XBeeAddr(it.from), nil
	case <-c.closed:
		return 0, transport.Addr{}, errClosed
	}
}

// WriteTo queues b as the RF data of one Transmit Request to the radio
// with the 64-bit address to.EUI64(), and returns len(b) once queued: it
// never waits for the radio's Transmit Status, which is matched to the
// request by frame id as it arrives and counted per destination. The
// 16-bit address is the one last seen from that radio (0xFFFE when
// unknown, which makes the radio discover it). It fails without sending
// when b is empty or longer than MaxPayload ([ErrTooLarge]), when the
// device is not open ([ErrNotConnected]) or when the transmit queue is
// full ([ErrQueueFull]). It is safe for concurrent use and does not keep b.
func (c *Conn) WriteTo(b []byte, to transport.Addr) (int, error) {
	if err := c.checkWrite(b, to); err != nil {
		return 0, err
	}
	var idx int
	select {
	case idx = <-c.txFree:
	default:
		c.countTx(func(s *Stats) { s.TxQueueFull++ })
		c.noisy.Warn().Stringer("addr", to).Msg("transmit queue full, datagram dropped")
		return 0, fmt.Errorf("xbee: write to %v: %w", to, ErrQueueFull)
	}
	req := TxRequest{Dst64: to.EUI64(), Dst16: UnknownAddr16, Data: b}
	c.mu.Lock()
	if c.port == nil {
		c.stats.TxNotConnected++
		c.mu.Unlock()
		c.txFree <- idx
		return 0, fmt.Errorf("xbee: write to %v: %w", to, ErrNotConnected)
	}
	req.FrameID = c.frameIDLocked()
	if req.FrameID != 0 {
		if c.pending[req.FrameID].used {
			c.stats.TxStatusLost++
		}
		c.pending[req.FrameID] = pendingTx{to: to, used: true}
	}
	if a, ok := c.addr16[req.Dst64]; ok && req.Dst64 != BroadcastEUI64 {
		req.Dst16 = a
	}
	if ds := c.destLocked(to); ds != nil {
		ds.Sent++
	}
	c.mu.Unlock()
	buf := req.AppendFrameData(c.txBufs[idx][:0])
	c.txq <- txItem{idx: idx, n: len(buf)} // never blocks: one slot per buffer
	return len(b), nil
}

// Flush waits until every datagram queued by WriteTo before it is written
// to the port and the port's output has drained (tcdrain), or ctx is done.
// A client tool calls it before exiting, since WriteTo returns once the
// datagram is queued. It fails with [ErrNotConnected] when the device is
// not open or goes away first.
func (c *Conn) Flush(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.port == nil {
			c.mu.Unlock()
			return fmt.Errorf("xbee: flush %s: %w", c.cfg.Device, ErrNotConnected)
		}
		f, mine := c.flush, false
		if f == nil {
			f, mine = &flushReq{done: make(chan struct{})}, true
			c.flush = f
			c.txq <- txItem{idx: flushMarker} // never blocks: its own slot
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			if mine {
				return f.err
			}
			// Another Flush's marker, queued before our datagrams maybe:
			// queue our own.
		case <-ctx.Done():
			return fmt.Errorf("xbee: flush %s: %w", c.cfg.Device, ctx.Err())
		case <-c.closed:
			return errClosed
		}
	}
}

// flushed completes the pending Flush with err.
func (c *Conn) flushed(err error) {
	c.mu.Lock()
	f := c.flush
	c.flush = nil
	c.mu.Unlock()
	if f != nil {
		f.err = err
		close(f.done)
	}
}

// checkWrite validates a datagram and its destination before queueing.
func (c *Conn) checkWrite(b []byte, to transport.Addr) error {
	switch {
	case c.isClosed():
		return errClosed
	case to.Kind() != transport.KindXBee:
		c.countTx(func(s *Stats) { s.TxBadAddr++ })
		return fmt.Errorf("xbee: write to %v: not an xbee address", to)
	case len(b) == 0:
		c.countTx(func(s *Stats) { s.TxBadAddr++ })
		return fmt.Errorf("xbee: write to %v: empty datagram", to)
	case len(b) > c.cfg.MaxPayload:
		c.countTx(func(s *Stats) { s.TxOversize++ })
		// The issue asks for the reason to be logged as well as returned.
		c.noisy.Warn().Stringer("addr", to).Int("size", len(b)).Int("max_payload", c.cfg.MaxPayload).
			Msg("datagram larger than max payload not sent")
		return fmt.Errorf("xbee: write to %v: %d bytes: %w (%d)", to, len(b), ErrTooLarge, c.cfg.MaxPayload)
	}
	return nil
}

// frameIDLocked returns the next frame id, rotating through 1..255.
func (c *Conn) frameIDLocked() uint8 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

func (c *Conn) countTx(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// Run opens the device and serves it until ctx is done or Close is
// called, then closes the Conn and returns nil. When the device cannot be
// opened or disappears, Run logs it and tries again after a back-off
// (BackoffMin doubling up to BackoffMax), unless Config.ExitOnError is
// set, in which case it returns the error. Run may be called once.
func (c *Conn) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("xbee: Run called twice")
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	delay := c.cfg.BackoffMin
	for !c.isClosed() {
		port, err := c.open()
		if err != nil {
			c.countTx(func(s *Stats) { s.OpenFailures++ })
			if c.cfg.ExitOnError {
				c.Close()
				return err
			}
			c.log.Warn().Err(err).Dur("retry_in", delay).Msg("cannot open device")
			if !c.sleep(delay) {
				break
			}
			delay = min(2*delay, c.cfg.BackoffMax)
			continue
		}
		delay = c.cfg.BackoffMin
		err = c.serve(port)
		if c.isClosed() {
			break
		}
		c.countTx(func(s *Stats) { s.Unplugs++ })
		if c.cfg.ExitOnError {
			c.Close()
			return err
		}
		c.log.Warn().Err(err).Msg("device lost, reopening")
	}
	c.log.Info().Msg("transport closed")
	return nil
}

// sleep waits for d or Close; it reports false when closed.
func (c *Conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		return false
	}
}

// open opens and configures the serial port.
func (c *Conn) open() (serial.Port, error) {
	flowFD := -1
	if c.cfg.FlowControl == FlowRTSCTS {
		fd, err := openFlowFD(c.cfg.Device)
		if err != nil {
			return nil, err
		}
		flowFD = fd
	}
	p, err := serial.Open(c.cfg.Device, c.cfg.mode())
	if err != nil {
		if flowFD >= 0 {
			closeFlowFD(flowFD)
		}
		return nil, fmt.Errorf("xbee: open %s: %w", c.cfg.Device, err)
	}
	if flowFD >= 0 {
		if err := enableRTSCTS(flowFD); err != nil {
			p.Close()
			return nil, fmt.Errorf("xbee: %s: %w", c.cfg.Device, err)
		}
	}
	// A read timeout lets the reader notice a quiet line and give up a
	// partial frame (see Decoder.Idle).
	if err := p.SetReadTimeout(c.cfg.FrameTimeout); err != nil {
		p.Close()
		return nil, fmt.Errorf("xbee: %s: set read timeout: %w", c.cfg.Device, err)
	}
	return p, nil
}

// serve runs the reader and writer goroutines on an open port until one
// of them fails or the Conn is closed, and waits for both.
func (c *Conn) serve(port serial.Port) error {
	c.dec.Reset()
	c.dropQueued()
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		port.Close()
		return errClosed
	}
	c.stats.Opens++
	c.haveSH, c.haveSL = false, false
	c.setPortLocked(port)
	c.mu.Unlock()
	c.log.Info().Str("api_mode", c.mode.String()).Int("baud", c.cfg.Baud).Msg("device open")

	done := make(chan struct{})
	writerDone := make(chan struct{})
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- c.readLoop(port) })
	wg.Go(func() {
		defer close(writerDone)
		errc <- c.writeLoop(port, done)
	})
	var err error
	select {
	case err = <-errc:
	case <-c.closed:
		err = errClosed
	}

	c.mu.Lock()
	c.setPortLocked(nil)
	c.mu.Unlock()
	close(done)
	// The writer must be gone before the port is closed: a write to a
	// closed descriptor could reach whatever file reuses its number.
	stopWriter(port, writerDone)
	port.Close() // unblocks the reader
	wg.Wait()
	c.dropQueued()
	return err
}

// writerStuck is how long a writer may take to notice it should stop
// before the port's output is flushed to unblock it (a radio holding CTS
// off blocks writes).
const writerStuck = 100 * time.Millisecond

// stopWriter waits for the writer goroutine to end, flushing the port's
// output while it does not.
func stopWriter(port serial.Port, writerDone <-chan struct{}) {
	t := time.NewTimer(writerStuck)
	defer t.Stop()
	for {
		select {
		case <-writerDone:
			return
		case <-t.C:
			port.ResetOutputBuffer()
			t.Reset(writerStuck)
		}
	}
}

// dropQueued frees datagrams queued for a port that is gone.
func (c *Conn) dropQueued() {
	for {
		select {
		case it := <-c.txq:
			if it.idx == flushMarker {
				c.flushed(fmt.Errorf("xbee: flush %s: %w", c.cfg.Device, ErrNotConnected))
				continue
			}
			c.txFree <- it.idx
			c.countTx(func(s *Stats) { s.TxDropped++ })
		default:
			return
		}
	}
}

// writeLoop writes queued Transmit Requests, and first asks the radio for
// its address, until done is closed or a write fails.
func (c *Conn) writeLoop(port serial.Port, done <-chan struct{}) error {
	if err := c.queryAddress(port); err != nil {
		return err
	}
	for {
		select {
		case <-done:
			return nil
		case it := <-c.txq:
			select {
			case <-done:
				c.txq <- it // put back, for dropQueued: there is a slot
				return nil
			default:
			}
			if it.idx == flushMarker {
				err := port.Drain()
				if err != nil {
					err = fmt.Errorf("xbee: drain %s: %w", c.cfg.Device, err)
				}
				c.flushed(err)
				continue
			}
			err := c.writeFrame(port, c.txBufs[it.idx][:it.n])
			c.txFree <- it.idx
			if err != nil {
				return err
			}
			c.countTx(func(s *Stats) { s.TxFrames++ })
		}
	}
}

// queryAddress sends AT SH and AT SL; the answers set LocalAddr.
func (c *Conn) queryAddress(port serial.Port) error {
	var data [atCommandHdr]byte
	for _, cmd := range [][2]byte{{'S', 'H'}, {'S', 'L'}} {
		c.mu.Lock()
		id := c.frameIDLocked()
		c.pending[id] = pendingTx{} // not a transmit: no status expected
		c.mu.Unlock()
		at := ATCommand{FrameID: id, Command: cmd}
		if err := c.writeFrame(port, at.AppendFrameData(data[:0])); err != nil {
			return err
		}
	}
	return nil
}

// writeFrame escapes frame data into the writer's buffer and writes it.
func (c *Conn) writeFrame(port serial.Port, data []byte) error {
	var err error
	c.wbuf, err = AppendFrame(c.wbuf[:0], c.mode, data)
	if err != nil {
		return fmt.Errorf("xbee: encode %v: %w", FrameType(data[0]), err)
	}
	for b := c.wbuf; len(b) > 0; {
		n, err := port.Write(b)
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return fmt.Errorf("xbee: write %s: %w", c.cfg.Device, err)
		}
		b = b[n:]
	}
	return nil
}
