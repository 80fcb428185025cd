package transporttest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/snbridge/snbridge/transport"
)

// Defaults of [Config].
const (
	DefaultMaxPayload = 65507 // as UDP over IPv4
	DefaultQueueLen   = 256
)

// Config configures a [Network]. The zero value is usable.
type Config struct {
	// Broadcast is the address that WriteTo delivers to every endpoint but
	// the sender, and that BroadcastAddr returns; the zero Addr for none.
	Broadcast transport.Addr
	// MaxPayload is the largest datagram WriteTo accepts;
	// 0 means [DefaultMaxPayload].
	MaxPayload int
	// QueueLen is how many datagrams each endpoint queues before it drops
	// new ones, as a full socket buffer does; 0 means [DefaultQueueLen].
	QueueLen int
	// Drop, when set, is called for every datagram about to be queued at
	// an endpoint (once per recipient of a broadcast); returning true loses
	// it. It may be called from several goroutines at once and must not
	// keep b.
	Drop func(from, to transport.Addr, b []byte) bool
}

// Stats are the counters of a [Network].
type Stats struct {
	Delivered      uint64 // datagrams queued at an endpoint
	DroppedUnknown uint64 // sent to an address nobody listens on
	DroppedFull    uint64 // lost to a full endpoint queue
	DroppedHook    uint64 // lost because Config.Drop said so
	Oversize       uint64 // refused by WriteTo: longer than MaxPayload
	Truncated      uint64 // dropped by ReadFrom: longer than the read buffer
}

// Network is an in-memory datagram network: endpoints opened with
// [Network.Listen] exchange datagrams by [transport.Addr]. It is safe for
// concurrent use.
type Network struct {
	bcast      transport.Addr
	maxPayload int
	queueLen   int

	mu   sync.Mutex
	eps  map[transport.Addr]*Conn
	drop func(from, to transport.Addr, b []byte) bool

	delivered, unknown, full, hooked, oversize, truncated atomic.Uint64
}

// NewNetwork returns a Network with the default [Config]: no broadcast
// address, UDP's maximum payload, 256 datagrams queued per endpoint.
func NewNetwork() *Network { return New(Config{}) }

// New returns a Network configured by cfg.
func New(cfg Config) *Network {
	n := &Network{
		bcast:      cfg.Broadcast,
		maxPayload: cfg.MaxPayload,
		queueLen:   cfg.QueueLen,
		eps:        make(map[transport.Addr]*Conn),
		drop:       cfg.Drop,
	}
	if n.maxPayload <= 0 {
		n.maxPayload = DefaultMaxPayload
	}
	if n.queueLen <= 0 {
		n.queueLen = DefaultQueueLen
	}
	return n
}

// ErrAddrInUse is returned by Listen for an address that already has an
// open endpoint.
var ErrAddrInUse = errors.New("transporttest: address in use")

// Listen opens the endpoint at a. The address must be valid, not the
// broadcast address, and not open already; it is free again once the
// endpoint is closed.
func (n *Network) Listen(a transport.Addr) (*Conn, error) {
	if !a.IsValid() {
		return nil, errors.New("transporttest: listen on the zero address")
	}
	if a == n.bcast {
		return nil, fmt.Errorf("transporttest: listen on the broadcast address %v", a)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.eps[a]; ok {
		return nil, fmt.Errorf("%w: %v", ErrAddrInUse, a)
	}
	c := &Conn{
		net:   n,
		local: a,
		queue: make(chan datagram, n.queueLen),
		done:  make(chan struct{}),
	}
	n.eps[a] = c
	return c, nil
}

// MustListen is Listen for tests: it panics on error.
func (n *Network) MustListen(a transport.Addr) *Conn {
	c, err := n.Listen(a)
	if err != nil {
		panic(err)
	}
	return c
}

// SetDrop replaces the Config.Drop hook; nil delivers everything.
func (n *Network) SetDrop(f func(from, to transport.Addr, b []byte) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Stats returns the counters of n.
func (n *Network) Stats() Stats {
	return Stats{
		Delivered:      n.delivered.Load(),
		DroppedUnknown: n.unknown.Load(),
		DroppedFull:    n.full.Load(),
		DroppedHook:    n.hooked.Load(),
		Oversize:       n.oversize.Load(),
		Truncated:      n.truncated.Load(),
	}
}

// send routes one datagram from a sender; b is copied once per recipient.
func (n *Network) send(from *Conn, b []byte, to transport.Addr) {
	n.mu.Lock()
	drop := n.drop
	var dsts []*Conn
	if to == n.bcast {
		for _, c := range n.eps {
			if c != from {
				dsts = append(dsts, c)
			}
		}
	} else if c, ok := n.eps[to]; ok {
		dsts = append(dsts, c)
	}
	n.mu.Unlock()
	if len(dsts) == 0 && to != n.bcast {
		n.unknown.Add(1)
		return
	}
	for _, c := range dsts {
		if drop != nil && drop(from.local, c.local, b) {
			n.hooked.Add(1)
			continue
		}
		if c.enqueue(datagram{b: append([]byte(nil), b...), from: from.local}) {
			n.delivered.Add(1)
		} else {
			n.full.Add(1)
		}
	}
}

// unlisten frees the address of a closed endpoint.
func (n *Network) unlisten(c *Conn) {
	n.mu.Lock()
	if n.eps[c.local] == c {
		delete(n.eps, c.local)
	}
	n.mu.Unlock()
}

// datagram is one queued datagram; b is owned by the queue.
type datagram struct {
	b    []byte
	from transport.Addr
}

// Conn is one endpoint of a [Network]; it implements [transport.Conn].
type Conn struct {
	net   *Network
	local transport.Addr
	queue chan datagram
	done  chan struct{}
	once  sync.Once
}

var _ transport.Conn = (*Conn)(nil)

// ReadFrom returns the next datagram queued at c, blocking until one comes
// or c is closed; after Close it returns an error wrapping [net.ErrClosed].
// A datagram longer than b is dropped and counted, as the udp transport
// does.
func (c *Conn) ReadFrom(b []byte) (int, transport.Addr, error) {
	for {
		select {
		case <-c.done:
			return 0, transport.Addr{}, c.closedErr("read")
		default:
		}
		select {
		case d := <-c.queue:
			if len(d.b) > len(b) {
				c.net.truncated.Add(1)
				continue
			}
			return copy(b, d.b), d.from, nil
		case <-c.done:
			return 0, transport.Addr{}, c.closedErr("read")
		}
	}
}

// WriteTo sends a copy of b to the endpoint at to, or to every other
// endpoint when to is the broadcast address. Like UDP, a datagram to an
// address nobody listens on, to a full queue or lost by the Drop hook is
// dropped silently (and counted). It is safe for concurrent use.
func (c *Conn) WriteTo(b []byte, to transport.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, c.closedErr("write")
	default:
	}
	if !to.IsValid() {
		return 0, fmt.Errorf("transporttest: write from %v: zero destination address", c.local)
	}
	if len(b) > c.net.maxPayload {
		c.net.oversize.Add(1)
		return 0, fmt.Errorf("transporttest: write to %v: datagram of %d bytes exceeds %d", to, len(b), c.net.maxPayload)
	}
	c.net.send(c, b, to)
	return len(b), nil
}

// enqueue queues d unless the queue is full.
func (c *Conn) enqueue(d datagram) bool {
	select {
	case c.queue <- d:
		return true
	default:
		return false
	}
}

// Queued returns how many datagrams wait to be read at c.
func (c *Conn) Queued() int { return len(c.queue) }

// LocalAddr returns the address c listens on.
func (c *Conn) LocalAddr() transport.Addr { return c.local }

// BroadcastAddr returns the network's broadcast address, or the zero Addr.
func (c *Conn) BroadcastAddr() transport.Addr { return c.net.bcast }

// MaxPayload returns the network's largest datagram.
func (c *Conn) MaxPayload() int { return c.net.maxPayload }

// Close closes c, unblocks ReadFrom and frees its address; datagrams still
// queued are lost. Closing twice returns an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	closed := false
	c.once.Do(func() {
		close(c.done)
		c.net.unlisten(c)
		closed = true
	})
	if !closed {
		return c.closedErr("close")
	}
	return nil
}

func (c *Conn) closedErr(op string) error {
	return fmt.Errorf("transporttest: %s %v: %w", op, c.local, net.ErrClosed)
}
