package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

// Errors a caller may branch on.
var (
	// ErrClosed is returned by requests after [Client.Close] or after the
	// Conn failed.
	ErrClosed = errors.New("mqttsn client: closed")
	// ErrNoAnswer is returned when the retransmissions of §6.13 are
	// exhausted without an answer from the gateway.
	ErrNoAnswer = errors.New("mqttsn client: no answer from gateway")
	// ErrBusy is returned when a request that has no message id (CONNECT,
	// PINGREQ, DISCONNECT, SEARCHGW) is already waiting for its answer.
	ErrBusy = errors.New("mqttsn client: another request of this kind is pending")
)

// RejectedError is a gateway's refusal: an answer whose ReturnCode is not
// [mqttsn.Accepted]. It is a Go error only on the client side; on the wire
// it is a return code.
type RejectedError struct {
	Type mqttsn.MsgType    // the answer that carried the code (CONNACK, PUBACK...)
	Code mqttsn.ReturnCode // never mqttsn.Accepted
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("mqttsn client: %s %s", e.Type, e.Code)
}

// Will is the will of a client, sent in the CONNECT dialogue.
// [MQTT-SN 1.2 §6.3]
type Will struct {
	Topic   string
	Payload []byte
	QoS     mqttsn.QoS // 0, 1 or 2
	Retain  bool
}

// Direction says whether the Debug hook sees a packet sent or received.
type Direction uint8

// Directions.
const (
	Sent Direction = iota
	Received
)

func (d Direction) String() string {
	if d == Sent {
		return "sent"
	}
	return "received"
}

// Config configures a [Client]. Only Gateway is required.
type Config struct {
	// Gateway is where requests are sent (for XBee, the coordinator is
	// transport.XBeeAddr(0)).
	Gateway transport.Addr
	// ClientID is sent in CONNECT and in the PINGREQ that wakes a
	// sleeping client; 1..23 octets. [MQTT-SN 1.2 §5.3.1]
	ClientID string
	// KeepAlive is the CONNECT Duration (whole seconds; 0 = none), and the
	// period of [Client.KeepAlive].
	KeepAlive time.Duration
	// CleanSession is the CONNECT CleanSession flag.
	CleanSession bool
	// Will, when not nil, is sent in the will dialogue of CONNECT.
	Will *Will
	// Predefined maps predefined topic ids to names, used to name
	// incoming messages; it is read, never modified.
	Predefined map[uint16]string

	// NodeID, when not empty, wraps every message in Forwarder
	// Encapsulation with this Wireless Node Id and accepts only
	// encapsulated answers for it. [MQTT-SN 1.2 §5.5]
	NodeID []byte
	// Radius is the Ctrl radius of encapsulated messages and of SEARCHGW.
	Radius uint8

	// Retry is Tretry of §6.13: a request unanswered for that long is
	// sent again (with DUP set for PUBLISH and SUBSCRIBE). Zero disables
	// retransmission: a request then waits for its context only.
	Retry time.Duration
	// MaxRetries is Nretry of §6.13 (default 3 when Retry is set).
	MaxRetries int

	// OnMessage receives every incoming PUBLISH (a QoS 2 message once per
	// message id), in arrival order, on the reader goroutine.
	OnMessage func(Message)
	// OnRejected receives a PUBACK that answers no pending request, such
	// as the rejection of a QoS 0 or -1 PUBLISH. [MQTT-SN 1.2 §6.5]
	OnRejected func(mqttsn.Puback)
	// OnDisconnect is called when the gateway sends a DISCONNECT that
	// answers no request of this client.
	OnDisconnect func(mqttsn.Disconnect)
	// Debug, when set, sees every packet sent and received, decoded; the
	// packet is valid only during the call.
	Debug func(d Direction, p *mqttsn.Packet)
	// ReadBuffer is the size of the reader's datagram buffer; a longer
	// datagram is truncated by the Conn. Default: the Conn's MaxPayload,
	// at most 65535. Load generators with thousands of clients set it low.
	ReadBuffer int
	// Logger logs undecodable datagrams and transport errors; the zero
	// value logs nothing.
	Logger zerolog.Logger
}

// Message is an application message received from the gateway.
type Message struct {
	// Topic is the topic name, when known: registered by the gateway or
	// by this client, a short topic name, or a predefined id found in
	// Config.Predefined. Empty otherwise.
	Topic       string
	TopicID     uint16
	TopicIDType mqttsn.TopicIDType
	Payload     []byte // owned by the receiver
	QoS         mqttsn.QoS
	Retain      bool
	DUP         bool
	MsgID       uint16
}

type waitKey struct {
	t  mqttsn.MsgType
	id uint16
}

type reply struct {
	p    mqttsn.Packet
	from transport.Addr
}

// waiter is one pending request: the keys of the answers it accepts and
// the channel the reader hands them to.
type waiter struct {
	keys [2]waitKey
	n    int
	ch   chan reply
}

// Client is an MQTT-SN client on one [transport.Conn]. Create it with
// [Open]; it is safe for concurrent use.
type Client struct {
	conn transport.Conn
	cfg  Config
	log  zerolog.Logger

	wmu     sync.Mutex // guards wbuf, ebuf, scratch and the order of writes
	wbuf    []byte
	ebuf    []byte
	scratch mqttsn.Packet // QoS 0 and -1 PUBLISH, built in place: no allocation
	bbuf    []byte        // PublishBatch: the encoded messages, back to back
	bmsgs   [][]byte      // PublishBatch: one slice of bbuf per message
	boffs   []int         // PublishBatch: where each message starts in bbuf

	mu     sync.Mutex
	waits  map[waitKey]*waiter
	nextID uint16
	topics map[uint16]string // registered topic id -> name
	ids    map[string]uint16 // registered topic name -> id
	err    error             // why the reader stopped

	dead     chan struct{} // closed when the reader stops
	activity chan struct{} // signalled (non-blocking) for every packet received
	wg       sync.WaitGroup

	qos2 map[uint16]struct{} // QoS 2 ids received, not yet released; reader only

	closeOnce sync.Once
}

// Open returns a Client on conn and starts its reader goroutine. The
// Client owns conn from now on: [Client.Close] closes it.
func Open(conn transport.Conn, cfg Config) *Client {
	if cfg.Retry > 0 && cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	c := &Client{
		conn:     conn,
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "mqttsn/client").Str("client_id", cfg.ClientID).Logger(),
		wbuf:     make([]byte, 0, 512),
		waits:    make(map[waitKey]*waiter),
		topics:   make(map[uint16]string),
		ids:      make(map[string]uint16),
		dead:     make(chan struct{}),
		activity: make(chan struct{}, 1),
		qos2:     make(map[uint16]struct{}),
	}
	c.wg.Add(1)
	go c.readLoop()
	return c
}

// Close closes the Conn and waits for the reader goroutine. Pending
// requests return [ErrClosed]. It sends nothing: call [Client.Disconnect]
// first for a clean end.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.conn.Close()
		c.wg.Wait()
	})
	return err
}

// Done is closed when the reader goroutine has stopped (after Close, or
// when the Conn failed); [Client.Err] then says why.
func (c *Client) Done() <-chan struct{} { return c.dead }

// Err returns why the reader stopped, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LocalAddr is the address of the Client's end of the Conn.
func (c *Client) LocalAddr() transport.Addr { return c.conn.LocalAddr() }

// TopicName returns the topic name registered for id (by a REGACK, a
// SUBACK or the gateway's REGISTER).
func (c *Client) TopicName(id uint16) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.topics[id]
	return name, ok
}

// TopicID returns the topic id registered for name.
func (c *Client) TopicID(name string) (uint16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[name]
	return id, ok
}

func (c *Client) remember(id uint16, name string) {
	c.mu.Lock()
	c.topics[id] = name
	c.ids[name] = id
	c.mu.Unlock()
}

// send encodes p (encapsulated when Config.NodeID is set) and writes it to
// the gateway, or to `to` when it is valid.
func (c *Client) send(p *mqttsn.Packet, to transport.Addr) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendLocked(p, to)
}

// sendLocked is send with c.wmu held.
func (c *Client) sendLocked(p *mqttsn.Packet, to transport.Addr) error {
	if !to.IsValid() {
		to = c.cfg.Gateway
	}
	b, err := c.appendMessage(c.wbuf[:0], p)
	if err != nil {
		return err
	}
	c.wbuf = b
	if c.cfg.Debug != nil {
		c.cfg.Debug(Sent, p)
	}
	if _, err := c.conn.WriteTo(b, to); err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("mqttsn client: send %s to %s: %w", p.Type, to, err)
	}
	return nil
}

// appendMessage appends the wire form of p to b, wrapped in Forwarder
// Encapsulation when Config.NodeID is set. [MQTT-SN 1.2 §5.5] It needs
// c.wmu (it uses ebuf).
func (c *Client) appendMessage(b []byte, p *mqttsn.Packet) ([]byte, error) {
	if len(c.cfg.NodeID) == 0 {
		b2, err := p.AppendBinary(b)
		if err != nil {
			return b, fmt.Errorf("mqttsn client: encode %s: %w", p.Type, err)
		}
		return b2, nil
	}
	inner, err := p.AppendBinary(c.ebuf[:0])
	if err != nil {
		return b, fmt.Errorf("mqttsn client: encode %s: %w", p.Type, err)
	}
	c.ebuf = inner
	e := mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{
		Radius: c.cfg.Radius, NodeID: c.cfg.NodeID, Message: inner,
	}}
	b2, err := e.AppendBinary(b)
	if err != nil {
		return b, fmt.Errorf("mqttsn client: encapsulate %s: %w", p.Type, err)
	}
	return b2, nil
}

// msgID returns the next message id that no pending request uses.
func (c *Client) msgIDLocked() uint16 {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if !c.busyLocked(c.nextID) {
			return c.nextID
		}
	}
}

func (c *Client) busyLocked(id uint16) bool {
	for _, t := range [...]mqttsn.MsgType{mqttsn.TypeRegack, mqttsn.TypePuback, mqttsn.TypePubrec,
		mqttsn.TypePubcomp, mqttsn.TypeSuback, mqttsn.TypeUnsuback} {
		if _, ok := c.waits[waitKey{t, id}]; ok {
			return true
		}
	}
	return false
}

// expect registers a waiter for the answers named by keys (id 0 for
// answers without a message id). With newID, it first draws a message id
// and sets it in every key; it returns the id.
func (c *Client) expect(newID bool, keys ...waitKey) (*waiter, uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, 0, c.err
	}
	var id uint16
	if newID {
		id = c.msgIDLocked()
	}
	for _, k := range keys {
		k.id = id
		if _, ok := c.waits[k]; ok {
			return nil, 0, ErrBusy
		}
	}
	w := &waiter{n: len(keys), ch: make(chan reply, 4)}
	for i, k := range keys {
		k.id = id
		w.keys[i] = k
		c.waits[k] = w
	}
	return w, id, nil
}

// release unregisters w. (Waiters are not pooled: a channel made outside
// a testing/synctest bubble would keep the bubble from ever idling.)
func (c *Client) release(w *waiter) {
	c.mu.Lock()
	for _, k := range w.keys[:w.n] {
		if c.waits[k] == w {
			delete(c.waits, k)
		}
	}
	c.mu.Unlock()
}

// answer hands an answer to the waiter of key, reporting whether there
// was one.
func (c *Client) answer(key waitKey, p *mqttsn.Packet, from transport.Addr) bool {
	c.mu.Lock()
	w := c.waits[key]
	c.mu.Unlock()
	if w == nil {
		return false
	}
	select {
	case w.ch <- reply{p: *p, from: from}:
	default: // a duplicate answer while the previous is unread
	}
	return true
}

// wait waits for an answer to w. When retransmission is on and resend is
// not nil, resend is sent again every Config.Retry, DUP set where the
// message has one. [MQTT-SN 1.2 §6.13]
func (c *Client) wait(ctx context.Context, w *waiter, resend *mqttsn.Packet) (reply, error) {
	if c.cfg.Retry > 0 && resend != nil {
		t := time.NewTimer(c.cfg.Retry)
		defer t.Stop()
		// While awake, the client restarts Tretry on every message other
		// than PINGRESP. [MQTT-SN 1.2 §6.14]
		var act <-chan struct{}
		if resend.Type == mqttsn.TypePingreq && len(resend.Pingreq.ClientID) > 0 {
			act = c.activity
		}
		for tries := 0; ; {
			select {
			case r := <-w.ch:
				return r, nil
			case <-ctx.Done():
				return reply{}, c.waitErr(ctx, w)
			case <-c.dead:
				return reply{}, c.Err()
			case <-act:
				t.Reset(c.cfg.Retry)
			case <-t.C:
				if tries++; tries > c.cfg.MaxRetries {
					return reply{}, fmt.Errorf("waiting for %s after %d retransmissions: %w", w.keys[0].t, c.cfg.MaxRetries, ErrNoAnswer)
				}
				setDUP(resend)
				if err := c.send(resend, transport.Addr{}); err != nil {
					return reply{}, err
				}
				t.Reset(c.cfg.Retry)
			}
		}
	}
	select {
	case r := <-w.ch:
		return r, nil
	case <-ctx.Done():
		return reply{}, c.waitErr(ctx, w)
	case <-c.dead:
		return reply{}, c.Err()
	}
}

func (c *Client) waitErr(ctx context.Context, w *waiter) error {
	return fmt.Errorf("mqttsn client: waiting for %s: %w", w.keys[0].t, ctx.Err())
}

func setDUP(p *mqttsn.Packet) {
	switch p.Type {
	case mqttsn.TypePublish:
		p.Publish.Flags.DUP = true
	case mqttsn.TypeSubscribe:
		p.Subscribe.Flags.DUP = true
	}
}

// readLoop is the reader goroutine: it reads, decodes and dispatches
// datagrams until the Conn is closed.
func (c *Client) readLoop() {
	defer c.wg.Done()
	size := c.cfg.ReadBuffer
	if size <= 0 {
		size = min(c.conn.MaxPayload(), 65535)
	}
	buf := make([]byte, size)
	var p, inner mqttsn.Packet
	errs := 0
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				c.stop(ErrClosed)
				return
			}
			if errs++; errs > 100 {
				c.stop(fmt.Errorf("mqttsn client: read: %w", err))
				return
			}
			c.log.Warn().Err(err).Msg("read failed")
			continue
		}
		errs = 0
		if err := mqttsn.Parse(buf[:n], &p); err != nil {
			c.log.Debug().Err(err).Stringer("addr", from).Msg("undecodable datagram dropped")
			continue
		}
		q := &p
		if p.Type == mqttsn.TypeEncapsulated {
			if len(c.cfg.NodeID) == 0 || !bytes.Equal(p.Encapsulated.NodeID, c.cfg.NodeID) {
				c.log.Debug().Stringer("addr", from).Msg("encapsulated message for another node dropped")
				continue
			}
			if err := mqttsn.Parse(p.Encapsulated.Message, &inner); err != nil {
				c.log.Debug().Err(err).Stringer("addr", from).Msg("undecodable encapsulated message dropped")
				continue
			}
			q = &inner
		}
		if c.cfg.Debug != nil {
			c.cfg.Debug(Received, q)
		}
		if q.Type != mqttsn.TypePingresp {
			select {
			case c.activity <- struct{}{}:
			default:
			}
		}
		c.handle(q, from)
	}
}

func (c *Client) stop(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.dead)
}

// handle dispatches one received packet.
func (c *Client) handle(p *mqttsn.Packet, from transport.Addr) {
	switch p.Type {
	case mqttsn.TypeConnack, mqttsn.TypeWillTopicReq, mqttsn.TypeWillMsgReq,
		mqttsn.TypePingresp, mqttsn.TypeGWInfo, mqttsn.TypeWillTopicResp, mqttsn.TypeWillMsgResp:
		c.answer(waitKey{p.Type, 0}, p, from)
	case mqttsn.TypeDisconnect:
		if !c.answer(waitKey{p.Type, 0}, p, from) && c.cfg.OnDisconnect != nil {
			c.cfg.OnDisconnect(p.Disconnect)
		}
	case mqttsn.TypeRegack:
		c.answer(waitKey{p.Type, p.Regack.MsgID}, p, from)
	case mqttsn.TypePuback:
		if !c.answer(waitKey{p.Type, p.Puback.MsgID}, p, from) && c.cfg.OnRejected != nil {
			c.cfg.OnRejected(p.Puback)
		}
	case mqttsn.TypePubrec:
		c.answer(waitKey{p.Type, p.Pubrec.MsgID}, p, from)
	case mqttsn.TypePubcomp:
		c.answer(waitKey{p.Type, p.Pubcomp.MsgID}, p, from)
	case mqttsn.TypeSuback:
		c.answer(waitKey{p.Type, p.Suback.MsgID}, p, from)
	case mqttsn.TypeUnsuback:
		c.answer(waitKey{p.Type, p.Unsuback.MsgID}, p, from)
	case mqttsn.TypeRegister:
		c.onRegister(&p.Register)
	case mqttsn.TypePublish:
		c.onPublish(&p.Publish)
	case mqttsn.TypePubrel:
		// [MQTT-SN 1.2 §6.7] the receiver of PUBREL completes with PUBCOMP.
		delete(c.qos2, p.Pubrel.MsgID)
		c.reply(&mqttsn.Packet{Type: mqttsn.TypePubcomp, Pubcomp: mqttsn.Pubcomp{MsgID: p.Pubrel.MsgID}})
	case mqttsn.TypePingreq:
		c.reply(&mqttsn.Packet{Type: mqttsn.TypePingresp})
	default:
		c.log.Debug().Stringer("msg_type", p.Type).Msg("unexpected message ignored")
	}
}

// reply sends an answer from the reader goroutine; a failure is logged,
// since there is no caller to return it to.
func (c *Client) reply(p *mqttsn.Packet) {
	if err := c.send(p, transport.Addr{}); err != nil {
		c.log.Warn().Err(err).Stringer("msg_type", p.Type).Msg("reply not sent")
	}
}

// onRegister accepts the gateway's REGISTER. [MQTT-SN 1.2 §6.10]
func (c *Client) onRegister(r *mqttsn.Register) {
	c.remember(r.TopicID, string(r.TopicName))
	c.reply(&mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{
		TopicID: r.TopicID, MsgID: r.MsgID, ReturnCode: mqttsn.Accepted,
	}})
}

// onPublish delivers an incoming PUBLISH and acknowledges it as its QoS
// requires. [MQTT-SN 1.2 §6.7]
func (c *Client) onPublish(pub *mqttsn.Publish) {
	m := Message{
		TopicID:     pub.TopicID,
		TopicIDType: pub.Flags.TopicIDType,
		QoS:         pub.Flags.QoS,
		Retain:      pub.Flags.Retain,
		DUP:         pub.Flags.DUP,
		MsgID:       pub.MsgID,
	}
	switch pub.Flags.TopicIDType {
	case mqttsn.TopicIDNormal:
		m.Topic, _ = c.TopicName(pub.TopicID)
	case mqttsn.TopicIDShort:
		m.Topic = mqttsn.ShortTopicName(pub.TopicID)
	case mqttsn.TopicIDPredefined:
		m.Topic = c.cfg.Predefined[pub.TopicID]
	}
	deliver := true
	if m.QoS == mqttsn.QoS2 {
		// Exactly once: a PUBLISH repeated before its PUBREL is not
		// delivered again.
		_, seen := c.qos2[pub.MsgID]
		deliver = !seen
		c.qos2[pub.MsgID] = struct{}{}
	}
	// Acknowledge before handing the message over, so that whatever the
	// application sends next (a DISCONNECT, say) cannot overtake the ack.
	switch m.QoS {
	case mqttsn.QoS1:
		c.reply(&mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{
			TopicID: pub.TopicID, MsgID: pub.MsgID, ReturnCode: mqttsn.Accepted,
		}})
	case mqttsn.QoS2:
		c.reply(&mqttsn.Packet{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: pub.MsgID}})
	}
	if deliver && c.cfg.OnMessage != nil {
		m.Payload = bytes.Clone(pub.Data)
		if m.Payload == nil {
			m.Payload = []byte{}
		}
		c.cfg.OnMessage(m)
	}
}
