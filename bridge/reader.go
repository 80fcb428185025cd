package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

const (
	// maxDatagram is the largest datagram read: an MQTT-SN message is at
	// most 65535 octets (3-octet length form), plus room to notice more.
	maxDatagram = 64*1024 + 1
	// smallBuf is the size of a pooled inbound buffer; longer datagrams
	// get a buffer of their own.
	smallBuf = 256
	// maxNodeID is the longest Wireless Node Id the gateway keys clients
	// by (a ZigBee EUI-64 is 8 octets, an IPv6 address 16).
	maxNodeID = 32
)

var errNodeIDTooLong = errors.New("wireless node id longer than 32 octets")
var errNestedEncapsulation = errors.New("nested forwarder encapsulation")

// nodeKey is a Wireless Node Id as a comparable value. [MQTT-SN 1.2 §5.5]
type nodeKey struct {
	n uint8
	b [maxNodeID]byte
}

func (k *nodeKey) set(id []byte) { k.n = uint8(copy(k.b[:], id)) }

func (k *nodeKey) bytes() []byte { return k.b[:k.n] }

// clientKey names a client: the transport it talks on, its address there,
// and, behind a forwarder, its Wireless Node Id.
type clientKey struct {
	tr    int
	addr  transport.Addr
	encap bool
	node  nodeKey
}

// inbound is one parsed datagram travelling from a reader to the loop.
// pkt aliases buf; both belong to the loop until it calls release.
type inbound struct {
	r          *reader
	key        clientKey
	radius     uint8
	badConnect bool  // a CONNECT to refuse: invalid ClientId or ProtocolId
	badErr     error // why badConnect, for the log
	buf        []byte
	small      [smallBuf]byte
	pkt        mqttsn.Packet
}

func (ib *inbound) release() {
	ib.buf = nil
	ib.r.free <- ib // never blocks: the channel holds every inbound of r
}

// reader is the goroutine reading one transport.
type reader struct {
	g    *Gateway
	tr   int
	conn transport.Conn
	free chan *inbound
}

func newReader(g *Gateway, tr int, conn transport.Conn) *reader {
	r := &reader{g: g, tr: tr, conn: conn, free: make(chan *inbound, g.cfg.InboundQueue)}
	for range g.cfg.InboundQueue {
		r.free <- &inbound{r: r}
	}
	return r
}

func (r *reader) run(ctx context.Context) {
	g := r.g
	scratch := make([]byte, maxDatagram)
	errs := 0
	for {
		n, from, err := r.conn.ReadFrom(scratch)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				g.log.Error().Err(err).Int("transport", r.tr).Msg("transport closed, reader stopped")
				return
			}
			g.stats.readErrors.Add(1)
			g.badLog.Warn().Err(err).Int("transport", r.tr).Msg("transport read failed")
			errs++
			if !sleepCtx(ctx, backoff(errs)) {
				return
			}
			continue
		}
		errs = 0
		g.stats.datagramsIn.Add(1)
		ib := r.take(ctx)
		if ib == nil {
			return
		}
		ib.key = clientKey{tr: r.tr, addr: from}
		if err := r.fill(ib, scratch[:n]); err != nil {
			if errors.Is(err, errNodeIDTooLong) {
				g.stats.unsupportedNodeIDs.Add(1)
			}
			g.stats.malformed.Add(1)
			g.badLog.Warn().Err(err).Int("transport", r.tr).Stringer("addr", from).Int("len", n).Msg("malformed datagram dropped")
			ib.release()
			continue
		}
		if ib.key.encap {
			g.stats.encapsulatedIn.Add(1)
		}
		if ib.badConnect {
			g.badLog.Info().Err(ib.badErr).Stringer("addr", from).Msg("CONNECT refused")
			ib.badErr = nil
		}
		if !r.hand(ctx, ib) {
			return
		}
	}
}

// take returns a free inbound buffer, or nil when ctx is done first. The
// non-blocking attempt first is the common, cheaper case.
func (r *reader) take(ctx context.Context) *inbound {
	select {
	case ib := <-r.free:
		return ib
	default:
	}
	select {
	case ib := <-r.free:
		return ib
	case <-ctx.Done():
		return nil
	}
}

// hand passes ib to the loop; false when ctx is done first.
func (r *reader) hand(ctx context.Context, ib *inbound) bool {
	select {
	case r.g.in <- ib:
		return true
	default:
	}
	select {
	case r.g.in <- ib:
		return true
	case <-ctx.Done():
		return false
	}
}

// fill parses the datagram data, which lives in the reader's scratch
// buffer, into ib and gives ib a buffer of its own holding the octets
// its packet aliases. A short datagram is copied into ib's inline buffer
// first and parsed there. A long one is parsed in place first, so that
// noise is dropped without allocating; only when it parses is it copied
// into a buffer of its own and parsed again there (parsing has no side
// effects but on ib, and gives the same result on the same octets).
func (r *reader) fill(ib *inbound, data []byte) error {
	if len(data) <= smallBuf {
		ib.buf = ib.small[:len(data)]
		copy(ib.buf, data)
		return r.parse(ib)
	}
	ib.buf = data
	err := r.parse(ib)
	ib.buf = nil
	if err != nil {
		return err
	}
	ib.buf = make([]byte, len(data))
	copy(ib.buf, data)
	return r.parse(ib)
}

// parse parses ib.buf into ib.pkt, unwrapping Forwarder Encapsulation:
// the client is then the (forwarder, node id) pair. [MQTT-SN 1.2 §5.5]
// A CONNECT that parses but for its ClientId or ProtocolId comes through
// with badConnect set (and the reason in badErr, which the caller clears
// once it has logged it), to be refused with a CONNACK. ib.key must hold
// the sender, not yet marked encapsulated. parse changes nothing but ib:
// the caller counts and logs.
func (r *reader) parse(ib *inbound) error {
	ib.badConnect = false
	if err := mqttsn.Parse(ib.buf, &ib.pkt); err != nil {
		return connectError(ib, err)
	}
	if ib.pkt.Type != mqttsn.TypeEncapsulated {
		return nil
	}
	e := &ib.pkt.Encapsulated
	if len(e.NodeID) > maxNodeID {
		return errNodeIDTooLong
	}
	ib.key.encap = true
	ib.key.node.set(e.NodeID)
	ib.radius = e.Radius
	if err := mqttsn.Parse(e.Message, &ib.pkt); err != nil {
		if connectError(ib, err) == nil {
			return nil
		}
		return fmt.Errorf("encapsulated message: %w", err)
	}
	if ib.pkt.Type == mqttsn.TypeEncapsulated {
		return errNestedEncapsulation
	}
	return nil
}

// connectError returns nil, setting ib.badConnect and ib.badErr, when err
// rejects only the ClientId or ProtocolId of a CONNECT; otherwise it
// returns err.
func connectError(ib *inbound, err error) error {
	var pe *mqttsn.ParseError
	if errors.As(err, &pe) && pe.Type == mqttsn.TypeConnect &&
		(errors.Is(err, mqttsn.ErrClientID) || errors.Is(err, mqttsn.ErrProtocolID)) {
		ib.badConnect, ib.badErr = true, err
		ib.pkt.Type = mqttsn.TypeConnect
		return nil
	}
	return err
}

func backoff(n int) time.Duration {
	d := time.Millisecond << min(n, 10)
	return min(d, time.Second)
}

// sleepCtx waits for d or ctx; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
