package bridge_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
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
