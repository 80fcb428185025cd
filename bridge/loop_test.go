package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/transporttest"
)

// Loop-level tests: the gateway on an in-memory network and an in-test
// upstream, inside a synctest bubble, so that keep-alive, sleep, retry and
// ADVERTISE timers run on the bubble's fake clock.

var (
	memGW    = transport.UDPAddr(netip.MustParseAddrPort("10.0.0.1:1884"))
	memBcast = transport.UDPAddr(netip.MustParseAddrPort("10.0.0.255:1884"))
)

func memAddr(i int) transport.Addr {
	return transport.UDPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}), 5000))
}

type loopEnv struct {
	net *transporttest.Network
	up  *memUpstream
	gw  *bridge.Gateway
}

// startLoop runs a gateway inside the current synctest bubble.
func startLoop(t *testing.T, mod func(*bridge.Config)) *loopEnv {
	t.Helper()
	e := &loopEnv{net: transporttest.New(transporttest.Config{Broadcast: memBcast}), up: newMemUpstream()}
	cfg := bridge.Config{
		Transports: []transport.Conn{e.net.MustListen(memGW)},
		Upstream:   e.up,
		GatewayID:  5,
		Logger:     testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := bridge.New(cfg)
	if err != nil {
		t.Fatalf("bridge.New: %v", err)
	}
	e.gw = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

func (e *loopEnv) client(t *testing.T, i int) *rawClient {
	t.Helper()
	return newRawOn(t, e.net.MustListen(memAddr(i)), memGW)
}

// connectWill runs CONNECT with the will dialogue. [MQTT-SN 1.2 §6.2]
func (r *rawClient) connectWill(id string, keepAlive uint16, topic, msg string) {
	r.t.Helper()
	r.send(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
		Flags: mqttsn.Flags{CleanSession: true, Will: true}, ProtocolID: mqttsn.ProtocolID, Duration: keepAlive, ClientID: []byte(id),
	}})
	r.expect(mqttsn.TypeWillTopicReq)
	r.send(mqttsn.Packet{Type: mqttsn.TypeWillTopic, WillTopic: mqttsn.WillTopic{Flags: mqttsn.Flags{QoS: 1}, Topic: []byte(topic)}})
	r.expect(mqttsn.TypeWillMsgReq)
	r.send(mqttsn.Packet{Type: mqttsn.TypeWillMsg, WillMsg: mqttsn.WillMsg{Msg: []byte(msg)}})
	if rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode; rc != mqttsn.Accepted {
		r.t.Fatalf("CONNACK %v", rc)
	}
}

// hasPublished reports whether topic was published upstream with payload.
func (e *loopEnv) hasPublished(topic, payload string) bool {
	for _, m := range e.up.published() {
		if m.Topic == topic && string(m.Payload) == payload {
			return true
		}
	}
	return false
}

// TestLoopKeepaliveWill: a client silent for its keep-alive plus 50%
// (§7.2, below one minute) is lost and its will published; not earlier.
func TestLoopKeepaliveWill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		c := e.client(t, 1)
		c.connectWill("ka", 10, "will/ka", "gone")
		time.Sleep(14*time.Second + 900*time.Millisecond)
		synctest.Wait()
		if e.hasPublished("will/ka", "gone") {
			t.Fatal("will published before keep-alive + tolerance")
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if !e.hasPublished("will/ka", "gone") {
			t.Fatal("will not published after keep-alive + tolerance")
		}
		if s := e.gw.Stats(); s.Sessions != 0 || s.WillsPublished != 1 {
			t.Fatalf("stats %+v: want the lost clean session dropped and one will", s)
		}
		if s := e.up.session("ka"); s == nil || !s.isClosed() {
			t.Fatal("upstream session of the lost client not closed")
		}
		c.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
		c.expect(mqttsn.TypeDisconnect)
	})
}

// TestLoopSleepExpiryWill: a sleeping client whose sleep duration plus
// tolerance passes is lost and its will published. [MQTT-SN 1.2 §6.14]
func TestLoopSleepExpiryWill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		c := e.client(t, 1)
		c.connectWill("sl", 10, "will/sl", "zzz")
		c.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: true, Duration: 20}})
		if d := c.expect(mqttsn.TypeDisconnect).Disconnect; d.HasDuration {
			t.Fatal("sleep acknowledged with a duration")
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if e.hasPublished("will/sl", "zzz") {
			t.Fatal("will published while the client may still sleep")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !e.hasPublished("will/sl", "zzz") {
			t.Fatal("will not published after the sleep expired")
		}
	})
}

// TestLoopNoWillAfterDisconnect: a clean DISCONNECT discards the will.
func TestLoopNoWillAfterDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		c := e.client(t, 1)
		c.connectWill("dc", 10, "will/dc", "no")
		c.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect})
		c.expect(mqttsn.TypeDisconnect)
		time.Sleep(time.Hour)
		synctest.Wait()
		if e.hasPublished("will/dc", "no") {
			t.Fatal("will published after a clean DISCONNECT")
		}
		if s := e.gw.Stats(); s.Sessions != 0 {
			t.Fatalf("%d sessions left after DISCONNECT", s.Sessions)
		}
		if s := e.up.session("dc"); s == nil || !s.isClosed() {
			t.Fatal("upstream session not closed after DISCONNECT")
		}
	})
}

// TestLoopMaxInflight: while the upstream has not acknowledged MaxInflight
// QoS 1 PUBLISHes of a client, the next one is refused with congestion;
// the held ones are acknowledged once the upstream answers.
func TestLoopMaxInflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, func(c *bridge.Config) { c.Session.MaxInflight = 2 })
		e.up.holding = true
		c := e.client(t, 1)
		c.connect("mi", true, 60)
		id := c.register("mi/t", 1)
		for i := range 3 {
			c.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: uint16(10 + i), Data: []byte("x")}})
		}
		pa := c.expect(mqttsn.TypePuback).Puback
		if pa.MsgID != 12 || pa.ReturnCode != mqttsn.RejectedCongestion {
			t.Fatalf("PUBACK %+v, want congestion for MsgId 12", pa)
		}
		synctest.Wait()
		c.nothing(0)
		e.up.release()
		for _, want := range []uint16{10, 11} {
			if pa := c.expect(mqttsn.TypePuback).Puback; pa.MsgID != want || pa.ReturnCode != mqttsn.Accepted {
				t.Fatalf("PUBACK %+v, want accepted %d", pa, want)
			}
		}
	})
}

// TestLoopAdvertise: ADVERTISE at start-up and every T_ADV, with the
// interval in its Duration, on the transport's broadcast address.
func TestLoopAdvertise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transporttest.New(transporttest.Config{Broadcast: memBcast})
		listener := newRawOn(t, net.MustListen(memAddr(1)), memGW)
		up := newMemUpstream()
		g, err := bridge.New(bridge.Config{
			Transports: []transport.Conn{net.MustListen(memGW)}, Upstream: up,
			GatewayID: 5, AdvertiseInterval: 15 * time.Minute, Logger: testLogger(t),
		})
		must(t, "New", err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		defer func() { cancel(); <-done }()

		start := time.Now()
		for i := range 3 {
			if i > 0 {
				time.Sleep(15*time.Minute - time.Second)
				synctest.Wait()
				listener.nothing(0)
				time.Sleep(time.Second)
			}
			a := listener.expect(mqttsn.TypeAdvertise).Advertise
			if a.GwID != 5 || a.Duration != 900 {
				t.Fatalf("ADVERTISE %+v, want GwId 5 duration 900", a)
			}
			if got, want := time.Since(start), time.Duration(i)*15*time.Minute; got != want {
				t.Fatalf("ADVERTISE %d at %v, want %v", i, got, want)
			}
		}
	})
}

// TestLoopSearchGW: SEARCHGW is answered with GWINFO to the sender and
// broadcast on the transport's broadcast address. [MQTT-SN 1.2 §6.1]
func TestLoopSearchGW(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		searcher, other := e.client(t, 1), e.client(t, 2)
		searcher.send(mqttsn.Packet{Type: mqttsn.TypeSearchGW, SearchGW: mqttsn.SearchGW{Radius: 1}})
		if gi := searcher.expect(mqttsn.TypeGWInfo).GWInfo; gi.GwID != 5 {
			t.Fatalf("GWINFO %+v", gi)
		}
		if gi := other.expect(mqttsn.TypeGWInfo).GWInfo; gi.GwID != 5 {
			t.Fatalf("broadcast GWINFO %+v", gi)
		}
	})
}

// TestLoopRetryExhausted: a QoS 1 PUBLISH the client never acknowledges is
// retried every T_retry with DUP set, N_retry times, then the client is
// lost. [MQTT-SN 1.2 §6.13]
func TestLoopRetryExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, func(c *bridge.Config) {
			c.Session.RetryInterval = 5 * time.Second
			c.Session.RetryCount = 2
		})
		c := e.client(t, 1)
		c.connectWill("rt", 600, "will/rt", "lost")
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("rt/#")}})
		c.expect(mqttsn.TypeSuback)
		e.up.deliver(t, "rt", bridge.Message{Topic: "rt/x", Payload: []byte("p"), QoS: 1})
		reg := c.expect(mqttsn.TypeRegister).Register
		c.send(mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: reg.TopicID, MsgID: reg.MsgID}})
		start := time.Now()
		for i := range 3 {
			p := c.expect(mqttsn.TypePublish).Publish
			if p.Flags.DUP != (i > 0) || time.Since(start) != time.Duration(i)*5*time.Second {
				t.Fatalf("PUBLISH %d at %v DUP %v", i, time.Since(start), p.Flags.DUP)
			}
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if !e.hasPublished("will/rt", "lost") {
			t.Fatal("client not lost after the retries")
		}
	})
}

// TestLoopSleepingWakeNewAddress: messages for a sleeping client are
// buffered and, when it wakes with PINGREQ(ClientId) from a new address
// (NAT rebinding), delivered there in order, each REGISTER/PUBLISH pair
// acknowledged, PINGRESP last. [MQTT-SN 1.2 §6.14]
func TestLoopSleepingWakeNewAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		c := e.client(t, 1)
		c.connect("sleepy", true, 60)
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("s/#")}})
		c.expect(mqttsn.TypeSuback)
		c.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: true, Duration: 300}})
		c.expect(mqttsn.TypeDisconnect)
		for i := range 5 {
			e.up.deliver(t, "sleepy", bridge.Message{Topic: fmt.Sprintf("s/%d", i), Payload: []byte{byte('0' + i)}, QoS: 1})
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		c.nothing(0)

		moved := e.client(t, 2)
		moved.send(mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: []byte("sleepy")}})
		for i := range 5 {
			reg := moved.expect(mqttsn.TypeRegister).Register
			if string(reg.TopicName) != fmt.Sprintf("s/%d", i) {
				t.Fatalf("REGISTER %d for %q", i, reg.TopicName)
			}
			moved.send(mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: reg.TopicID, MsgID: reg.MsgID}})
			pub := moved.expect(mqttsn.TypePublish).Publish
			if pub.TopicID != reg.TopicID || string(pub.Data) != string(rune('0'+i)) {
				t.Fatalf("PUBLISH %d: %+v", i, pub)
			}
			moved.send(mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: pub.TopicID, MsgID: pub.MsgID}})
		}
		moved.expect(mqttsn.TypePingresp)
		c.nothing(0)
		if s := e.gw.Stats(); s.SessionsTakenOver != 1 {
			t.Errorf("SessionsTakenOver %d, want 1", s.SessionsTakenOver)
		}
	})
}

// TestLoopEncapsulated: a client behind a forwarder is keyed by (forwarder,
// node id); every answer goes back encapsulated with its node id, and two
// nodes behind one forwarder are two clients. [MQTT-SN 1.2 §5.5]
func TestLoopEncapsulated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		fw := e.client(t, 1)
		wrap := func(node string, p mqttsn.Packet) {
			inner, err := p.AppendBinary(nil)
			must(t, "encode", err)
			fw.send(mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: []byte(node), Message: inner}})
		}
		unwrap := func(node string, want mqttsn.MsgType) mqttsn.Packet {
			outer := fw.expect(mqttsn.TypeEncapsulated).Encapsulated
			if string(outer.NodeID) != node {
				t.Fatalf("answer for node %q, want %q", outer.NodeID, node)
			}
			var p mqttsn.Packet
			must(t, "parse inner", mqttsn.Parse(outer.Message, &p))
			if p.Type != want {
				t.Fatalf("inner %v, want %v", p.Type, want)
			}
			return p
		}
		for _, node := range []string{"\x00\x13\xa2\x00", "\x00\x13\xa2\x01"} {
			wrap(node, mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
				Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: 1, Duration: 60, ClientID: []byte(fmt.Sprintf("node-%x", node[3])),
			}})
			unwrap(node, mqttsn.TypeConnack)
		}
		wrap("\x00\x13\xa2\x01", mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: 3, TopicName: []byte("fw/t")}})
		ra := unwrap("\x00\x13\xa2\x01", mqttsn.TypeRegack).Regack
		wrap("\x00\x13\xa2\x01", mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: ra.TopicID, MsgID: 4, Data: []byte("hi")}})
		unwrap("\x00\x13\xa2\x01", mqttsn.TypePuback)
		if !e.hasPublished("fw/t", "hi") {
			t.Fatal("encapsulated PUBLISH not forwarded")
		}
		// The forwarder's own address, unencapsulated, is a third client.
		fw.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
		fw.expect(mqttsn.TypeDisconnect)
		if s := e.gw.Stats(); s.Sessions != 2 || s.EncapsulatedIn != 4 {
			t.Errorf("stats %+v: want 2 sessions, 4 encapsulated datagrams", s)
		}
	})
}

// TestLoopLostPersistentKept: a CleanSession=false client that is lost
// keeps its session (subscriptions included) at the gateway; it comes
// back from another address and gets its messages there.
func TestLoopLostPersistentKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil)
		c := e.client(t, 1)
		c.connect("keep", false, 10)
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("keep/t")}})
		topicID := c.expect(mqttsn.TypeSuback).Suback.TopicID
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := e.gw.Stats(); s.Sessions != 1 || s.SessionsDropped != 0 {
			t.Fatalf("stats %+v: want the lost persistent session kept", s)
		}
		c.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
		c.expect(mqttsn.TypeDisconnect) // lost: the old address is forgotten

		back := e.client(t, 2)
		back.connect("keep", false, 10)
		e.up.deliver(t, "keep", bridge.Message{Topic: "keep/t", Payload: []byte("again"), QoS: 1})
		pub := back.expect(mqttsn.TypePublish).Publish
		if pub.TopicID != topicID || string(pub.Data) != "again" {
			t.Fatalf("PUBLISH %+v, want topic id %d", pub, topicID)
		}
	})
}

// TestLoopSleepBufferOverflow: a sleeping client's buffer holds
// SleepBuffer messages; more drop the oldest, counted in
// Stats.BufferOverflow; the wake-up delivers the newest ones in order.
// [MQTT-SN 1.2 §6.14]
func TestLoopSleepBufferOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, func(c *bridge.Config) { c.Session.SleepBuffer = 3 })
		c := e.client(t, 1)
		c.connect("ovf", true, 60)
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("ovf/t")}})
		topicID := c.expect(mqttsn.TypeSuback).Suback.TopicID
		c.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: true, Duration: 300}})
		c.expect(mqttsn.TypeDisconnect)
		for i := 1; i <= 5; i++ {
			e.up.deliver(t, "ovf", bridge.Message{Topic: "ovf/t", Payload: []byte(fmt.Sprint(i)), QoS: 1})
		}
		synctest.Wait()
		if s := e.gw.Stats(); s.BufferOverflow != 2 || s.NotBuffered != 0 {
			t.Fatalf("BufferOverflow %d NotBuffered %d, want 2 and 0", s.BufferOverflow, s.NotBuffered)
		}
		c.send(mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: []byte("ovf")}})
		for i := 3; i <= 5; i++ {
			pub := c.expect(mqttsn.TypePublish).Publish
			if pub.TopicID != topicID || string(pub.Data) != fmt.Sprint(i) {
				t.Fatalf("PUBLISH %q on %d, want %d on %d", pub.Data, pub.TopicID, i, topicID)
			}
			c.send(mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: pub.TopicID, MsgID: pub.MsgID}})
		}
		c.expect(mqttsn.TypePingresp)
		// QoS 0 for a sleeping client without buffer_qos0: not buffered.
		c.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: true, Duration: 300}})
		c.expect(mqttsn.TypeDisconnect)
		e.up.deliver(t, "ovf", bridge.Message{Topic: "ovf/t", Payload: []byte("q0"), QoS: 0})
		synctest.Wait()
		if s := e.gw.Stats(); s.BufferOverflow != 2 || s.NotBuffered != 1 {
			t.Fatalf("BufferOverflow %d NotBuffered %d, want 2 and 1", s.BufferOverflow, s.NotBuffered)
		}
	})
}

// TestLoopDeliveryTooLarge: a broker message whose PUBLISH would not fit
// the client's transport (a radio's small MaxPayload) is not delivered
// and is counted in Stats.DeliveriesTooLarge; the next one that fits
// arrives. [MQTT-SN 1.2 §6.10]
func TestLoopDeliveryTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transporttest.New(transporttest.Config{MaxPayload: 40})
		up := newMemUpstream()
		g, err := bridge.New(bridge.Config{
			Transports: []transport.Conn{net.MustListen(memGW)}, Upstream: up, Logger: testLogger(t),
		})
		must(t, "New", err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		defer func() { cancel(); <-done }()

		c := newRawOn(t, net.MustListen(memAddr(1)), memGW)
		c.connect("radio", true, 60)
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("big/t")}})
		c.expect(mqttsn.TypeSuback)
		up.deliver(t, "radio", bridge.Message{Topic: "big/t", Payload: make([]byte, 40), QoS: 1})
		up.deliver(t, "radio", bridge.Message{Topic: "big/t", Payload: []byte("small"), QoS: 1})
		pub := c.expect(mqttsn.TypePublish).Publish
		if string(pub.Data) != "small" {
			t.Fatalf("PUBLISH %q, want the small message", pub.Data)
		}
		c.send(mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{TopicID: pub.TopicID, MsgID: pub.MsgID}})
		synctest.Wait()
		c.nothing(0)
		if s := g.Stats(); s.DeliveriesTooLarge != 1 || s.SendTooLarge != 0 {
			t.Fatalf("DeliveriesTooLarge %d SendTooLarge %d, want 1 and 0", s.DeliveriesTooLarge, s.SendTooLarge)
		}
	})
}

// TestLoopAdvertiseDisabled: with AdvertiseInterval 0 no ADVERTISE is
// ever sent, even on a transport with a broadcast address; SEARCHGW is
// still answered. [MQTT-SN 1.2 §6.1]
func TestLoopAdvertiseDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startLoop(t, nil) // AdvertiseInterval 0
		listener := e.client(t, 1)
		time.Sleep(time.Hour)
		synctest.Wait()
		listener.nothing(0)
		if s := e.gw.Stats(); s.AdvertisesSent != 0 {
			t.Fatalf("AdvertisesSent %d", s.AdvertisesSent)
		}
		listener.send(mqttsn.Packet{Type: mqttsn.TypeSearchGW})
		listener.expect(mqttsn.TypeGWInfo)
	})
}

// syncBuffer is a bytes.Buffer safe for the gateway's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoopAdvertiseTwoTransports: ADVERTISE goes out on each transport
// that has a broadcast address, at start-up and every T_ADV; a transport
// without one gets a warning, once, at start-up. [MQTT-SN 1.2 §6.1]
func TestLoopAdvertiseTwoTransports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bcastB := transport.UDPAddr(netip.MustParseAddrPort("10.1.0.255:1884"))
		gwB := transport.UDPAddr(netip.MustParseAddrPort("10.1.0.1:1884"))
		netA := transporttest.New(transporttest.Config{Broadcast: memBcast})
		netB := transporttest.New(transporttest.Config{Broadcast: bcastB})
		netC := transporttest.New(transporttest.Config{}) // no broadcast
		listenA := newRawOn(t, netA.MustListen(memAddr(1)), memGW)
		listenB := newRawOn(t, netB.MustListen(transport.UDPAddr(netip.MustParseAddrPort("10.1.0.11:5000"))), gwB)
		listenC := newRawOn(t, netC.MustListen(memAddr(1)), memGW)
		var logs syncBuffer
		g, err := bridge.New(bridge.Config{
			Transports: []transport.Conn{netA.MustListen(memGW), netB.MustListen(gwB), netC.MustListen(memGW)},
			Upstream:   newMemUpstream(), GatewayID: 7, AdvertiseInterval: time.Minute,
			Logger: zerolog.New(zerolog.MultiLevelWriter(&logs, zerolog.NewTestWriter(t))),
		})
		must(t, "New", err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		defer func() { cancel(); <-done }()

		for i := range 3 {
			if i > 0 {
				time.Sleep(time.Minute)
			}
			for _, l := range []*rawClient{listenA, listenB} {
				if a := l.expect(mqttsn.TypeAdvertise).Advertise; a.GwID != 7 || a.Duration != 60 {
					t.Fatalf("ADVERTISE %+v", a)
				}
			}
			synctest.Wait()
			listenC.nothing(0)
		}
		if s := g.Stats(); s.AdvertisesSent != 6 {
			t.Fatalf("AdvertisesSent %d, want 6", s.AdvertisesSent)
		}
		const warn = "no broadcast address: ADVERTISE and GWINFO broadcast disabled on this transport"
		if n := strings.Count(logs.String(), warn); n != 1 {
			t.Fatalf("warning logged %d times, want once:\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), `"transport":2`) {
			t.Fatalf("warning does not name transport 2:\n%s", logs.String())
		}
	})
}
