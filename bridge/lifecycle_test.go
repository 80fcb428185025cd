package bridge_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
)

// End-to-end tests of the client lifecycle (issue 4) over real UDP: short
// keep-alive and sleep durations (1 s, so lost after 1.5 s with the §7.2
// tolerance); the tests wait on events with deadlines.

// TestWillOnSilence: a will arrives upstream after a client goes silent.
func TestWillOnSilence(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		wills := bridgetest.Subscribe(t, e.url, "will/#", 1)
		sn, _ := snClient(t, e.gw.Addr, client.Config{
			ClientID: "silent-" + e.mode, KeepAlive: time.Second, CleanSession: true,
			Will: &client.Will{Topic: "will/silent", Payload: []byte("gone silent"), QoS: 1},
		})
		must(t, "connect", sn.Connect(ctx))
		start := time.Now()
		expectMQTT(t, wills, "will/silent", "gone silent")
		if d := time.Since(start); d < time.Second {
			t.Errorf("will after %v, before the keep-alive ran out", d)
		}
	})
}

// TestWillOnSleepExpiry: a will arrives upstream after a sleep expires.
func TestWillOnSleepExpiry(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		wills := bridgetest.Subscribe(t, e.url, "will/#", 1)
		sn, _ := snClient(t, e.gw.Addr, client.Config{
			ClientID: "sleeper-" + e.mode, KeepAlive: time.Minute, CleanSession: true,
			Will: &client.Will{Topic: "will/sleeper", Payload: []byte("never woke"), QoS: 1},
		})
		must(t, "connect", sn.Connect(ctx))
		must(t, "sleep", sn.Sleep(ctx, time.Second))
		expectMQTT(t, wills, "will/sleeper", "never woke")
	})
}

// TestNoWillAfterDisconnect: no will after a clean DISCONNECT, even once
// the keep-alive would have run out.
func TestNoWillAfterDisconnect(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		wills := bridgetest.Subscribe(t, e.url, "will/#", 1)
		sn, _ := snClient(t, e.gw.Addr, client.Config{
			ClientID: "polite-" + e.mode, KeepAlive: time.Second, CleanSession: true,
			Will: &client.Will{Topic: "will/polite", Payload: []byte("should not"), QoS: 1},
		})
		must(t, "connect", sn.Connect(ctx))
		must(t, "disconnect", sn.Disconnect(ctx))
		select {
		case m := <-wills:
			t.Fatalf("will %q %q after DISCONNECT", m.Topic, m.Payload)
		case <-time.After(2 * time.Second): // keep-alive 1 s + 50 % tolerance, and some
		}
	})
}

// TestSleepingClientWake: messages published upstream while a client
// sleeps reach it on wake-up, in order, followed by PINGRESP.
func TestSleepingClientWake(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		var mu sync.Mutex
		var trace []mqttsn.MsgType // packets received, in order
		sn, msgs := snClient(t, e.gw.Addr, client.Config{
			ClientID: "dozy-" + e.mode, KeepAlive: time.Minute, CleanSession: true,
			Debug: func(d client.Direction, p *mqttsn.Packet) {
				if d == client.Received {
					mu.Lock()
					trace = append(trace, p.Type)
					mu.Unlock()
				}
			},
		})
		must(t, "connect", sn.Connect(ctx))
		_, err := sn.Subscribe(ctx, client.FilterName("dozy/#"), 1)
		must(t, "subscribe", err)
		must(t, "sleep", sn.Sleep(ctx, time.Minute))
		const n = 10
		// One connection, so that the broker keeps the publishes in order.
		pub := bridgetest.Connect(t, e.url, nil)
		for i := range n {
			bridgetest.PublishClient(t, pub, fmt.Sprintf("dozy/%d", i), []byte{byte('a' + i)}, 1, false)
		}
		// The broker hands the messages to the gateway asynchronously:
		// wake until all have come, checking the order across wake-ups.
		got := 0
		deadline := time.Now().Add(waitTimeout)
		for got < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d buffered messages delivered", got, n)
			}
			mu.Lock()
			trace = trace[:0]
			mu.Unlock()
			must(t, "wake", sn.Wake(ctx))
			mu.Lock()
			tr := append([]mqttsn.MsgType(nil), trace...)
			mu.Unlock()
			if len(tr) == 0 || tr[len(tr)-1] != mqttsn.TypePingresp {
				t.Fatalf("wake-up packets %v: want PINGRESP last", tr)
			}
			for {
				var m client.Message
				select {
				case m = <-msgs:
				default:
				}
				if m.Payload == nil {
					break
				}
				want := fmt.Sprintf("dozy/%d", got)
				if m.Topic != want || m.Payload[0] != byte('a'+got) {
					t.Fatalf("message %d: %q %q, want %s; gateway stats %+v", got, m.Topic, m.Payload, want, e.gw.Stats())
				}
				got++
			}
		}
	})
}

// TestSearchGW: SEARCHGW gets GWINFO with the gateway's id.
func TestSearchGW(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		sn, _ := snClient(t, e.gw.Addr, client.Config{})
		gi, err := sn.SearchGW(ctxT(t))
		must(t, "searchgw", err)
		if gi.GwID != 7 {
			t.Fatalf("GWINFO GwId %d, want 7", gi.GwID)
		}
	})
}

// TestForwarderEncapsulated: a client behind a forwarder, served over UDP,
// publishes and receives; every answer comes back encapsulated for its
// node id (the client accepts nothing else). [MQTT-SN 1.2 §5.5]
func TestForwarderEncapsulated(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sub := bridgetest.Subscribe(t, e.url, "fwd/#", 1)
		sn, msgs := snClient(t, e.gw.Addr, client.Config{
			ClientID: "fwd-" + e.mode, KeepAlive: time.Minute, CleanSession: true,
			NodeID: []byte{0x00, 0x13, 0xa2, 0x00, 0x41, 0x5b, 0x7c, 0x01},
		})
		must(t, "connect", sn.Connect(ctx))
		id, err := sn.Register(ctx, "fwd/up")
		must(t, "register", err)
		must(t, "publish", sn.Publish(ctx, client.Registered(id), 1, false, []byte("via forwarder")))
		expectMQTT(t, sub, "fwd/up", "via forwarder")
		_, err = sn.Subscribe(ctx, client.FilterName("fwd/down"), 1)
		must(t, "subscribe", err)
		bridgetest.Publish(t, e.url, "fwd/down", []byte("to node"), 1, false)
		if m := recvSN(t, msgs); m.Topic != "fwd/down" || string(m.Payload) != "to node" {
			t.Fatalf("node got %q %q", m.Topic, m.Payload)
		}
		must(t, "disconnect", sn.Disconnect(ctx))
	})
}

// TestWillUpdatedThenSilence: WILLTOPICUPD and WILLMSGUPD replace the
// will; when the client then goes silent the NEW topic and message are
// published upstream, not the old ones. [MQTT-SN 1.2 §6.4]
func TestWillUpdatedThenSilence(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		wills := bridgetest.Subscribe(t, e.url, "will/#", 1)
		c := newRaw(t, e.gw.Addr)
		c.connectWill("wupd-"+e.mode, 1, "will/old", "old message")
		c.send(mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd, WillTopicUpd: mqttsn.WillTopicUpd{Flags: mqttsn.Flags{QoS: 1}, Topic: []byte("will/new")}})
		if rc := c.expect(mqttsn.TypeWillTopicResp).WillTopicResp.ReturnCode; rc != mqttsn.Accepted {
			t.Fatalf("WILLTOPICRESP %v", rc)
		}
		c.send(mqttsn.Packet{Type: mqttsn.TypeWillMsgUpd, WillMsgUpd: mqttsn.WillMsgUpd{Msg: []byte("new message")}})
		if rc := c.expect(mqttsn.TypeWillMsgResp).WillMsgResp.ReturnCode; rc != mqttsn.Accepted {
			t.Fatalf("WILLMSGRESP %v", rc)
		}
		// Silence: lost after the keep-alive (1 s) plus 50 %.
		m := bridgetest.Recv(t, wills, waitTimeout)
		if m.Topic != "will/new" || string(m.Payload) != "new message" || m.QoS != 1 {
			t.Fatalf("will %q %q QoS %d, want the updated will/new \"new message\" QoS 1", m.Topic, m.Payload, m.QoS)
		}
		select {
		case m := <-wills:
			t.Fatalf("second will %q %q", m.Topic, m.Payload)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// TestWillOnRetryExhaustion: a client that never acknowledges a QoS 1
// delivery is lost after N_retry retransmissions, and its will arrives
// upstream. [MQTT-SN 1.2 §6.13]
func TestWillOnRetryExhaustion(t *testing.T) {
	retry := func(c *bridge.Config) {
		c.Session.RetryInterval = 200 * time.Millisecond
		c.Session.RetryCount = 1
	}
	forModes(t, retry, func(t *testing.T, e *env) {
		wills := bridgetest.Subscribe(t, e.url, "will/#", 1)
		c := newRaw(t, e.gw.Addr)
		c.connectWill("deaf-"+e.mode, 60, "will/deaf", "never acked")
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 1}, MsgID: 1, TopicName: []byte("deaf/t")}})
		c.expect(mqttsn.TypeSuback)
		bridgetest.Publish(t, e.url, "deaf/t", []byte("ack me"), 1, false)
		first := c.expect(mqttsn.TypePublish).Publish
		again := c.expect(mqttsn.TypePublish).Publish
		if first.Flags.DUP || !again.Flags.DUP || again.MsgID != first.MsgID || string(again.Data) != "ack me" {
			t.Fatalf("PUBLISH %+v then %+v: want the retransmission with DUP and the same MsgId", first, again)
		}
		expectMQTT(t, wills, "will/deaf", "never acked")
		if s := e.gw.Stats(); s.WillsPublished != 1 {
			t.Errorf("WillsPublished %d, want 1", s.WillsPublished)
		}
	})
}

// TestUpstreamAliveWhileSleeping (transparent mode): the client's own
// upstream session stays connected while the client sleeps longer than
// 1.5 x the upstream keepalive (paho pings for it); a message published
// meanwhile reaches the client when it wakes, and mosquitto saw no
// timeout and no reconnect of that session. [MQTT-SN 1.2 §6.14]
func TestUpstreamAliveWhileSleeping(t *testing.T) {
	const upKeepAlive = 2 * time.Second
	mosq := bridgetest.StartMosquitto(t)
	up, err := paho.New(paho.Config{
		URL: mosq.URL(), Mode: paho.Transparent, Logger: testLogger(t).Level(zerolog.InfoLevel),
		OpenTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, MaxReconnectInterval: time.Second,
		MinKeepAlive: upKeepAlive,
	})
	must(t, "paho.New", err)
	runPart(t, "paho upstream", up.Run)
	gw := startGateway(t, up, nil)

	ctx := ctxT(t)
	const id = "nightowl"
	sn, msgs := snClient(t, gw.Addr, client.Config{ClientID: id, KeepAlive: time.Second, CleanSession: true})
	must(t, "connect", sn.Connect(ctx))
	_, err = sn.Subscribe(ctx, client.FilterName("owl/t"), 1)
	must(t, "subscribe", err)
	must(t, "sleep", sn.Sleep(ctx, 20*time.Second))
	// The time under test: longer than mosquitto's 1.5 x keepalive.
	<-time.After(upKeepAlive*3/2 + upKeepAlive)
	bridgetest.Publish(t, mosq.URL(), "owl/t", []byte("while you slept"), 1, false)
	deadline := time.Now().Add(waitTimeout)
	for {
		must(t, "wake", sn.Wake(ctx))
		select {
		case m := <-msgs:
			if m.Topic != "owl/t" || string(m.Payload) != "while you slept" {
				t.Fatalf("got %q %q", m.Topic, m.Payload)
			}
		default:
			if time.Now().After(deadline) {
				t.Fatalf("message not delivered at wake-up; gateway stats %+v", gw.Stats())
			}
			continue // not at the gateway yet: wake again
		}
		break
	}
	logs := mosq.Logs()
	if n := strings.Count(logs, " as "+id+" "); n != 1 {
		t.Fatalf("upstream session of %s connected %d times, want once:\n%s", id, n, logs)
	}
	if !strings.Contains(logs, " as "+id+" (p2, c1, k2)") {
		t.Fatalf("upstream session of %s not connected with keepalive 2 s:\n%s", id, logs)
	}
	if strings.Contains(logs, "Client "+id+" has exceeded timeout") {
		t.Fatalf("upstream session timed out while the client slept:\n%s", logs)
	}
}
