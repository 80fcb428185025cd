package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memConn is one end of an in-memory datagram pair. Unit tests only: the
// end-to-end tests in cmd/ run the client over real UDP against the gateway.
type memConn struct {
	local     transport.Addr
	in        chan []byte
	peer      *memConn
	closed    chan struct{}
	closeOnce sync.Once
}

func memPair() (*memConn, *memConn) {
	a := &memConn{local: transport.UDPAddr(netip.MustParseAddrPort("127.0.0.1:1001")), in: make(chan []byte, 64), closed: make(chan struct{})}
	b := &memConn{local: transport.UDPAddr(netip.MustParseAddrPort("127.0.0.1:1884")), in: make(chan []byte, 64), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (c *memConn) ReadFrom(b []byte) (int, transport.Addr, error) {
	select {
	case d := <-c.in:
		return copy(b, d), c.peer.local, nil
	case <-c.closed:
		return 0, transport.Addr{}, net.ErrClosed
	}
}

func (c *memConn) WriteTo(b []byte, _ transport.Addr) (int, error) {
	d := bytes.Clone(b)
	select {
	case c.peer.in <- d:
	case <-c.peer.closed:
	case <-c.closed:
		return 0, net.ErrClosed
	}
	return len(b), nil
}

func (c *memConn) LocalAddr() transport.Addr     { return c.local }
func (c *memConn) BroadcastAddr() transport.Addr { return c.peer.local }
func (c *memConn) MaxPayload() int               { return 1024 }
func (c *memConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// responder plays a scripted gateway on the other end of a memConn: for
// each packet it receives it calls script, which returns the packets to
// send back. It records the types it received.
type responder struct {
	t      *testing.T
	conn   *memConn
	nodeID []byte // when set, expects and answers Forwarder Encapsulation
	script func(p *mqttsn.Packet) []mqttsn.Packet

	mu      sync.Mutex
	seen    []mqttsn.MsgType
	changed chan struct{} // signalled after each append to seen
	wg      sync.WaitGroup
}

func startResponder(t *testing.T, conn *memConn, nodeID []byte, script func(p *mqttsn.Packet) []mqttsn.Packet) *responder {
	r := &responder{t: t, conn: conn, nodeID: nodeID, script: script, changed: make(chan struct{}, 1)}
	r.wg.Add(1)
	go r.run()
	t.Cleanup(func() {
		conn.Close()
		r.wg.Wait()
	})
	return r
}

func (r *responder) run() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	var outer, p mqttsn.Packet
	for {
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := buf[:n]
		if r.nodeID != nil {
			if err := mqttsn.Parse(msg, &outer); err != nil || outer.Type != mqttsn.TypeEncapsulated {
				r.t.Errorf("responder: want an encapsulated message, got %v (%v)", outer.Type, err)
				continue
			}
			if !bytes.Equal(outer.Encapsulated.NodeID, r.nodeID) {
				r.t.Errorf("responder: node id %x, want %x", outer.Encapsulated.NodeID, r.nodeID)
			}
			msg = outer.Encapsulated.Message
		}
		if err := mqttsn.Parse(msg, &p); err != nil {
			r.t.Errorf("responder: parse: %v", err)
			continue
		}
		r.mu.Lock()
		r.seen = append(r.seen, p.Type)
		r.mu.Unlock()
		select {
		case r.changed <- struct{}{}:
		default:
		}
		for _, q := range r.script(&p) {
			r.send(&q)
		}
	}
}

func (r *responder) send(p *mqttsn.Packet) {
	b, err := p.AppendBinary(nil)
	if err != nil {
		r.t.Errorf("responder: encode %v: %v", p.Type, err)
		return
	}
	if r.nodeID != nil {
		e := mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: r.nodeID, Message: b}}
		if b, err = e.AppendBinary(nil); err != nil {
			r.t.Errorf("responder: encapsulate: %v", err)
			return
		}
	}
	r.conn.WriteTo(b, transport.Addr{})
}

// waitSeen waits until the responder has received n packets.
func (r *responder) waitSeen(ctx context.Context, n int) []mqttsn.MsgType {
	for {
		if got := r.types(); len(got) >= n {
			return got
		}
		select {
		case <-r.changed:
		case <-ctx.Done():
			return r.types()
		}
	}
}

func (r *responder) types() []mqttsn.MsgType {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mqttsn.MsgType(nil), r.seen...)
}

func newClient(t *testing.T, cfg Config, nodeID []byte, script func(p *mqttsn.Packet) []mqttsn.Packet) (*Client, *responder) {
	t.Helper()
	a, b := memPair()
	r := startResponder(t, b, nodeID, script)
	cfg.Gateway = b.local
	cfg.NodeID = nodeID
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t))
	c := Open(a, cfg)
	t.Cleanup(func() { c.Close() })
	return c, r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// gatewayScript answers like a well-behaved gateway: topic ids from 1,
// QoS 1/2 acks, SUBACK with the registered id or 0 for wildcards.
func gatewayScript() func(p *mqttsn.Packet) []mqttsn.Packet {
	next := uint16(0)
	ids := map[string]uint16{}
	id := func(name string) uint16 {
		if v, ok := ids[name]; ok {
			return v
		}
		next++
		ids[name] = next
		return next
	}
	return func(p *mqttsn.Packet) []mqttsn.Packet {
		switch p.Type {
		case mqttsn.TypeConnect:
			return []mqttsn.Packet{{Type: mqttsn.TypeConnack}}
		case mqttsn.TypeRegister:
			return []mqttsn.Packet{{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: id(string(p.Register.TopicName)), MsgID: p.Register.MsgID}}}
		case mqttsn.TypePublish:
			switch p.Publish.Flags.QoS {
			case mqttsn.QoS1:
				return []mqttsn.Packet{{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: p.Publish.TopicID, MsgID: p.Publish.MsgID}}}
			case mqttsn.QoS2:
				return []mqttsn.Packet{{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: p.Publish.MsgID}}}
			}
		case mqttsn.TypePubrel:
			return []mqttsn.Packet{{Type: mqttsn.TypePubcomp, Pubcomp: mqttsn.Pubcomp{MsgID: p.Pubrel.MsgID}}}
		case mqttsn.TypeSubscribe:
			s := p.Subscribe
			sa := mqttsn.Suback{Flags: mqttsn.Flags{QoS: s.Flags.QoS}, MsgID: s.MsgID, TopicID: s.TopicID}
			if s.Flags.TopicIDType == mqttsn.TopicIDNormal {
				sa.TopicID = 0
				if !mqttsn.IsWildcard(string(s.TopicName)) {
					sa.TopicID = id(string(s.TopicName))
				}
			}
			return []mqttsn.Packet{{Type: mqttsn.TypeSuback, Suback: sa}}
		case mqttsn.TypeUnsubscribe:
			return []mqttsn.Packet{{Type: mqttsn.TypeUnsuback, Unsuback: mqttsn.Unsuback{MsgID: p.Unsubscribe.MsgID}}}
		case mqttsn.TypePingreq:
			return []mqttsn.Packet{{Type: mqttsn.TypePingresp}}
		case mqttsn.TypeDisconnect:
			return []mqttsn.Packet{{Type: mqttsn.TypeDisconnect}}
		case mqttsn.TypeSearchGW:
			return []mqttsn.Packet{{Type: mqttsn.TypeGWInfo, GWInfo: mqttsn.GWInfo{GwID: 7}}}
		}
		return nil
	}
}

func TestConnectWillDialogue(t *testing.T) {
	var gotTopic, gotMsg string
	var gotFlags mqttsn.Flags
	var connect mqttsn.Connect
	c, r := newClient(t, Config{
		ClientID: "sensor-1", KeepAlive: 30 * time.Second, CleanSession: true,
		Will: &Will{Topic: "site/dead", Payload: []byte("gone"), QoS: mqttsn.QoS1, Retain: true},
	}, nil, func(p *mqttsn.Packet) []mqttsn.Packet {
		switch p.Type {
		case mqttsn.TypeConnect:
			connect = p.Connect
			connect.ClientID = bytes.Clone(p.Connect.ClientID)
			return []mqttsn.Packet{{Type: mqttsn.TypeWillTopicReq}}
		case mqttsn.TypeWillTopic:
			gotTopic, gotFlags = string(p.WillTopic.Topic), p.WillTopic.Flags
			return []mqttsn.Packet{{Type: mqttsn.TypeWillMsgReq}}
		case mqttsn.TypeWillMsg:
			gotMsg = string(p.WillMsg.Msg)
			return []mqttsn.Packet{{Type: mqttsn.TypeConnack}}
		}
		return nil
	})
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	want := mqttsn.Connect{Flags: mqttsn.Flags{Will: true, CleanSession: true}, ProtocolID: 1, Duration: 30, ClientID: []byte("sensor-1")}
	if d := cmp.Diff(want, connect); d != "" {
		t.Errorf("CONNECT mismatch (-want +got):\n%s", d)
	}
	if gotTopic != "site/dead" || gotMsg != "gone" || gotFlags.QoS != mqttsn.QoS1 || !gotFlags.Retain {
		t.Errorf("will = %q %q %+v, want site/dead gone QoS1 retain", gotTopic, gotMsg, gotFlags)
	}
	wantSeen := []mqttsn.MsgType{mqttsn.TypeConnect, mqttsn.TypeWillTopic, mqttsn.TypeWillMsg}
	if d := cmp.Diff(wantSeen, r.types()); d != "" {
		t.Errorf("sent types mismatch (-want +got):\n%s", d)
	}
}

func TestConnectRejected(t *testing.T) {
	c, _ := newClient(t, Config{ClientID: "x"}, nil, func(p *mqttsn.Packet) []mqttsn.Packet {
		return []mqttsn.Packet{{Type: mqttsn.TypeConnack, Connack: mqttsn.Connack{ReturnCode: mqttsn.RejectedCongestion}}}
	})
	err := c.Connect(ctxT(t))
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Code != mqttsn.RejectedCongestion || rej.Type != mqttsn.TypeConnack {
		t.Fatalf("Connect = %v, want a CONNACK congestion rejection", err)
	}
	if got, want := rej.Code.String(), "rejected: congestion"; got != want {
		t.Errorf("code in words = %q, want %q", got, want)
	}
}

func TestPublishEachQoSAndTopicKind(t *testing.T) {
	var mu sync.Mutex
	var pubs []mqttsn.Publish
	script := gatewayScript()
	c, r := newClient(t, Config{ClientID: "p"}, nil, func(p *mqttsn.Packet) []mqttsn.Packet {
		if p.Type == mqttsn.TypePublish {
			q := p.Publish
			q.Data = bytes.Clone(q.Data)
			mu.Lock()
			pubs = append(pubs, q)
			mu.Unlock()
		}
		return script(p)
	})
	ctx := ctxT(t)
	// QoS -1 before any CONNECT, as the spec allows. [MQTT-SN 1.2 §6.8]
	if err := c.Publish(ctx, Predefined(5), mqttsn.QoSMinus1, false, []byte("m1")); err != nil {
		t.Fatalf("Publish QoS -1: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	id, err := c.Register(ctx, "a/b")
	if err != nil || id != 1 {
		t.Fatalf("Register = %d, %v; want 1", id, err)
	}
	if got, ok := c.TopicID("a/b"); !ok || got != 1 {
		t.Errorf("TopicID(a/b) = %d %v", got, ok)
	}
	short, err := Short("ab")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		topic Topic
		qos   mqttsn.QoS
	}{
		{Registered(id), mqttsn.QoS0}, {Registered(id), mqttsn.QoS1}, {Registered(id), mqttsn.QoS2},
		{Predefined(5), mqttsn.QoS1}, {short, mqttsn.QoS2},
	} {
		if err := c.Publish(ctx, tt.topic, tt.qos, true, []byte("x")); err != nil {
			t.Fatalf("Publish %+v QoS %v: %v", tt.topic, tt.qos, err)
		}
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pubs) != 6 {
		t.Fatalf("gateway saw %d PUBLISH, want 6", len(pubs))
	}
	if pubs[0].Flags.QoS != mqttsn.QoSMinus1 || pubs[0].Flags.TopicIDType != mqttsn.TopicIDPredefined || pubs[0].TopicID != 5 {
		t.Errorf("QoS -1 publish = %+v", pubs[0])
	}
	if pubs[5].Flags.TopicIDType != mqttsn.TopicIDShort || pubs[5].TopicID != 'a'<<8|'b' || pubs[5].MsgID == 0 {
		t.Errorf("short QoS 2 publish = %+v", pubs[5])
	}
	if pubs[1].MsgID != 0 || pubs[2].MsgID == 0 || !pubs[2].Flags.Retain {
		t.Errorf("QoS 0 msg id %d (want 0), QoS 1 msg id %d (want non-zero), retain %v", pubs[1].MsgID, pubs[2].MsgID, pubs[2].Flags.Retain)
	}
	want := []mqttsn.MsgType{mqttsn.TypePublish, mqttsn.TypeConnect, mqttsn.TypeRegister,
		mqttsn.TypePublish, mqttsn.TypePublish, mqttsn.TypePublish, mqttsn.TypePubrel,
		mqttsn.TypePublish, mqttsn.TypePublish, mqttsn.TypePubrel, mqttsn.TypeDisconnect}
	if d := cmp.Diff(want, r.types()); d != "" {
		t.Errorf("gateway saw (-want +got):\n%s", d)
	}
}

func TestPublishRejected(t *testing.T) {
	var rejectedQoS0 = make(chan mqttsn.Puback, 1)
	c, _ := newClient(t, Config{ClientID: "p", OnRejected: func(p mqttsn.Puback) { rejectedQoS0 <- p }}, nil,
		func(p *mqttsn.Packet) []mqttsn.Packet {
			if p.Type == mqttsn.TypePublish {
				return []mqttsn.Packet{{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{
					TopicID: p.Publish.TopicID, MsgID: p.Publish.MsgID, ReturnCode: mqttsn.RejectedInvalidTopicID}}}
			}
			return nil
		})
	ctx := ctxT(t)
	for _, q := range []mqttsn.QoS{mqttsn.QoS1, mqttsn.QoS2} {
		err := c.Publish(ctx, Registered(9), q, false, nil)
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Code != mqttsn.RejectedInvalidTopicID {
			t.Errorf("QoS %v: Publish = %v, want invalid topic id", q, err)
		}
	}
	if err := c.Publish(ctx, Registered(9), mqttsn.QoS0, false, nil); err != nil {
		t.Fatalf("QoS 0: %v", err)
	}
	select {
	case p := <-rejectedQoS0:
		if p.ReturnCode != mqttsn.RejectedInvalidTopicID || p.TopicID != 9 {
			t.Errorf("OnRejected got %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("QoS 0 rejection never reached OnRejected")
	}
}

func TestSubscribeAndReceive(t *testing.T) {
	msgs := make(chan Message, 16)
	script := gatewayScript()
	var c *Client
	var gwAcks []mqttsn.Packet
	var mu sync.Mutex
	c, _ = newClient(t, Config{ClientID: "s", OnMessage: func(m Message) { msgs <- m },
		Predefined: map[uint16]string{3: "site/alarm"}}, nil,
		func(p *mqttsn.Packet) []mqttsn.Packet {
			switch p.Type {
			case mqttsn.TypeRegack, mqttsn.TypePuback, mqttsn.TypePubrec, mqttsn.TypePubcomp:
				q := *p
				mu.Lock()
				gwAcks = append(gwAcks, q)
				mu.Unlock()
			}
			if p.Type == mqttsn.TypeSubscribe && string(p.Subscribe.TopicName) == "x/#" {
				pub := func(qos mqttsn.QoS, id uint16, dup bool, data string) mqttsn.Packet {
					return mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
						Flags: mqttsn.Flags{QoS: qos, DUP: dup}, TopicID: 40, MsgID: id, Data: []byte(data)}}
				}
				// A wildcard subscription: the gateway registers the topic
				// first, then publishes; QoS 2 repeated before PUBREL.
				return append(script(p),
					mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{TopicID: 40, MsgID: 100, TopicName: []byte("x/y")}},
					pub(mqttsn.QoS1, 101, false, "one"),
					pub(mqttsn.QoS2, 102, false, "two"),
					pub(mqttsn.QoS2, 102, true, "two"),
					mqttsn.Packet{Type: mqttsn.TypePubrel, Pubrel: mqttsn.Pubrel{MsgID: 102}},
					mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
						Flags: mqttsn.Flags{TopicIDType: mqttsn.TopicIDPredefined}, TopicID: 3, Data: []byte("p")}},
				)
			}
			return script(p)
		})
	ctx := ctxT(t)
	sa, err := c.Subscribe(ctx, FilterName("a/b"), mqttsn.QoS1)
	if err != nil || sa.TopicID != 1 || sa.Flags.QoS != mqttsn.QoS1 {
		t.Fatalf("Subscribe a/b = %+v, %v", sa, err)
	}
	if name, _ := c.TopicName(1); name != "a/b" {
		t.Errorf("TopicName(1) = %q, want a/b", name)
	}
	fs, _ := FilterShort("zz")
	if sa, err := c.Subscribe(ctx, fs, mqttsn.QoS0); err != nil || sa.TopicID != 'z'<<8|'z' {
		t.Fatalf("Subscribe short = %+v, %v", sa, err)
	}
	if sa, err := c.Subscribe(ctx, FilterName("x/#"), mqttsn.QoS2); err != nil || sa.TopicID != 0 {
		t.Fatalf("Subscribe x/# = %+v, %v", sa, err)
	}
	var got []Message
	for len(got) < 3 {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-ctx.Done():
			t.Fatalf("got %d messages, want 3", len(got))
		}
	}
	want := []Message{
		{Topic: "x/y", TopicID: 40, Payload: []byte("one"), QoS: 1, MsgID: 101},
		{Topic: "x/y", TopicID: 40, Payload: []byte("two"), QoS: 2, MsgID: 102},
		{Topic: "site/alarm", TopicID: 3, TopicIDType: mqttsn.TopicIDPredefined, Payload: []byte("p")},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	if err := c.Unsubscribe(ctx, FilterName("x/#")); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantAcks := []mqttsn.Packet{
		{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: 40, MsgID: 100}},
		{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: 40, MsgID: 101}},
		{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: 102}},
		{Type: mqttsn.TypePubrec, Pubrec: mqttsn.Pubrec{MsgID: 102}},
		{Type: mqttsn.TypePubcomp, Pubcomp: mqttsn.Pubcomp{MsgID: 102}},
	}
	// Compare only the field each Type selects.
	sel := func(p mqttsn.Packet) any {
		switch p.Type {
		case mqttsn.TypeRegack:
			return p.Regack
		case mqttsn.TypePuback:
			return p.Puback
		case mqttsn.TypePubrec:
			return p.Pubrec
		}
		return p.Pubcomp
	}
	if d := cmp.Diff(wantAcks, gwAcks, cmp.Transformer("selected", sel)); d != "" {
		t.Errorf("client acks (-want +got):\n%s", d)
	}
}

func TestSleepAndWake(t *testing.T) {
	msgs := make(chan Message, 4)
	var sleepDur mqttsn.Disconnect
	var wakeID string
	c, r := newClient(t, Config{ClientID: "sleepy", OnMessage: func(m Message) { msgs <- m }}, nil,
		func(p *mqttsn.Packet) []mqttsn.Packet {
			switch p.Type {
			case mqttsn.TypeDisconnect:
				sleepDur = p.Disconnect
				return []mqttsn.Packet{{Type: mqttsn.TypeDisconnect}}
			case mqttsn.TypePingreq:
				wakeID = string(p.Pingreq.ClientID)
				return []mqttsn.Packet{
					{Type: mqttsn.TypeRegister, Register: mqttsn.Register{TopicID: 2, MsgID: 1, TopicName: []byte("buffered")}},
					{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{TopicID: 2, Data: []byte("while asleep")}},
					{Type: mqttsn.TypePingresp},
				}
			}
			return nil
		})
	ctx := ctxT(t)
	if err := c.Sleep(ctx, 90*time.Second); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	if !sleepDur.HasDuration || sleepDur.Duration != 90 {
		t.Errorf("DISCONNECT = %+v, want duration 90", sleepDur)
	}
	if err := c.Wake(ctx); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if wakeID != "sleepy" {
		t.Errorf("wake PINGREQ client id = %q", wakeID)
	}
	// The reader delivers in arrival order, so the message is in before
	// PINGRESP released Wake.
	select {
	case m := <-msgs:
		if m.Topic != "buffered" || string(m.Payload) != "while asleep" {
			t.Errorf("buffered message = %+v", m)
		}
	default:
		t.Fatal("Wake returned before the buffered message was delivered")
	}
	want := []mqttsn.MsgType{mqttsn.TypeDisconnect, mqttsn.TypePingreq, mqttsn.TypeRegack}
	if d := cmp.Diff(want, r.waitSeen(ctx, len(want))); d != "" {
		t.Errorf("gateway saw (-want +got):\n%s", d)
	}
}

func TestEncapsulationAndDebug(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	node := []byte{0x00, 0x13, 0xA2, 0x00, 0x41, 0x52, 0x33, 0x01}
	c, _ := newClient(t, Config{ClientID: "fw", Debug: func(d Direction, p *mqttsn.Packet) {
		mu.Lock()
		trace = append(trace, d.String()+" "+p.Type.String())
		mu.Unlock()
	}}, node, gatewayScript())
	ctx := ctxT(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	gi, err := c.SearchGW(ctx)
	if err != nil || gi.GwID != 7 {
		t.Fatalf("SearchGW = %+v, %v", gi, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"sent CONNECT", "received CONNACK", "sent PINGREQ", "received PINGRESP", "sent SEARCHGW", "received GWINFO"}
	if d := cmp.Diff(want, trace); d != "" {
		t.Errorf("debug trace (-want +got):\n%s", d)
	}
}

func TestRetransmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dups []bool
		c, _ := newClient(t, Config{ClientID: "r", Retry: 10 * time.Second, MaxRetries: 2}, nil,
			func(p *mqttsn.Packet) []mqttsn.Packet {
				if p.Type != mqttsn.TypePublish {
					return nil // never answers anything else
				}
				mu.Lock()
				defer mu.Unlock()
				dups = append(dups, p.Publish.Flags.DUP)
				if len(dups) < 3 {
					return nil // drop the first two
				}
				return []mqttsn.Packet{{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{MsgID: p.Publish.MsgID}}}
			})
		start := time.Now()
		if err := c.Publish(t.Context(), Registered(1), mqttsn.QoS1, false, []byte("x")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if got := time.Since(start); got != 20*time.Second {
			t.Errorf("acknowledged after %v, want 20s (two retries)", got)
		}
		mu.Lock()
		if d := cmp.Diff([]bool{false, true, true}, dups); d != "" {
			t.Errorf("DUP flags (-want +got):\n%s", d)
		}
		mu.Unlock()
		// PINGREQ is never answered: Nretry retransmissions, then ErrNoAnswer.
		if err := c.Ping(t.Context()); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("Ping = %v, want ErrNoAnswer", err)
		}
		if got := time.Since(start); got != 50*time.Second {
			t.Errorf("gave up at %v, want 50s", got)
		}
	})
}

func TestContextAndClose(t *testing.T) {
	c, _ := newClient(t, Config{ClientID: "q"}, nil, func(*mqttsn.Packet) []mqttsn.Packet { return nil })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with a cancelled context = %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(t.Context()) }()
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
	if err := c.Publish(t.Context(), Registered(1), mqttsn.QoS1, false, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	<-c.Done()
}

// TestWakeRetryRestartsOnMessages: while awake, Tretry restarts at every
// message before PINGRESP, so a slow flush is not taken for a lost
// PINGREQ. [MQTT-SN 1.2 §6.14]
func TestWakeRetryRestartsOnMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		msgs := make(chan Message, 4)
		var r *responder
		var c *Client
		c, r = newClient(t, Config{ClientID: "slow", Retry: 10 * time.Second, MaxRetries: 1,
			OnMessage: func(m Message) { msgs <- m }}, nil,
			func(p *mqttsn.Packet) []mqttsn.Packet {
				if p.Type != mqttsn.TypePingreq || len(p.Pingreq.ClientID) == 0 {
					return nil
				}
				pub := func(d string) mqttsn.Packet {
					return mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
						Flags: mqttsn.Flags{TopicIDType: mqttsn.TopicIDShort}, TopicID: 'a'<<8 | 'b', Data: []byte(d)}}
				}
				// Each gap is under Tretry, the whole flush (24s) is not.
				for i, q := range []mqttsn.Packet{pub("1"), pub("2"), {Type: mqttsn.TypePingresp}} {
					time.AfterFunc(time.Duration(i+1)*8*time.Second, func() { r.send(&q) })
				}
				return nil
			})
		start := time.Now()
		if err := c.Wake(t.Context()); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		if got := time.Since(start); got != 24*time.Second {
			t.Errorf("Wake returned after %v, want 24s", got)
		}
		if n := len(msgs); n != 2 {
			t.Errorf("%d messages delivered, want 2", n)
		}
		if d := cmp.Diff([]mqttsn.MsgType{mqttsn.TypePingreq}, r.types()); d != "" {
			t.Errorf("PINGREQ retransmitted (-want +got):\n%s", d)
		}
	})
}

// batchConn is a memConn that also sends batches, counting the calls.
type batchConn struct {
	*memConn
	mu      sync.Mutex
	batches []int
}

func (b *batchConn) WriteBatchTo(bs [][]byte, to transport.Addr) (int, error) {
	b.mu.Lock()
	b.batches = append(b.batches, len(bs))
	b.mu.Unlock()
	for i, m := range bs {
		if _, err := b.WriteTo(m, to); err != nil {
			return i, err
		}
	}
	return len(bs), nil
}

func TestPublishBatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		batch bool
		node  []byte
	}{
		{"batch writer", true, nil},
		{"batch writer encapsulated", true, []byte{7, 7}},
		{"plain conn", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, g := memPair()
			var mu sync.Mutex
			var got []string
			r := startResponder(t, g, tt.node, func(p *mqttsn.Packet) []mqttsn.Packet {
				if p.Type == mqttsn.TypePublish && p.Publish.Flags.QoS == mqttsn.QoS0 && p.Publish.TopicID == 3 {
					mu.Lock()
					got = append(got, string(p.Publish.Data))
					mu.Unlock()
				}
				return nil
			})
			var conn transport.Conn = a
			bc := &batchConn{memConn: a}
			if tt.batch {
				conn = bc
			}
			var sent int
			c := Open(conn, Config{Gateway: g.local, NodeID: tt.node, Debug: func(d Direction, p *mqttsn.Packet) {
				if d == Sent {
					sent++
				}
			}})
			defer c.Close()
			payloads := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
			if err := c.PublishBatch(Registered(3), mqttsn.QoS0, false, payloads); err != nil {
				t.Fatalf("PublishBatch: %v", err)
			}
			if err := c.PublishBatch(Registered(3), mqttsn.QoS1, false, payloads); err == nil {
				t.Error("PublishBatch accepted QoS 1")
			}
			r.waitSeen(ctxT(t), 3)
			mu.Lock()
			defer mu.Unlock()
			if d := cmp.Diff([]string{"a", "b", "c"}, got); d != "" {
				t.Errorf("gateway got (-want +got):\n%s", d)
			}
			if tt.batch && (len(bc.batches) != 1 || bc.batches[0] != 3) {
				t.Errorf("batches %v, want one of 3", bc.batches)
			}
			if sent != 3 {
				t.Errorf("debug hook saw %d sent, want 3", sent)
			}
		})
	}
}
