package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
)

// remoteModes are the modes with a remote broker the test can stop.
var remoteModes = []string{"transparent", "aggregating"}

// TestUpstreamDownCongestion: a client whose upstream session cannot be
// opened gets CONNACK 0x01 (congestion); once the broker is back, it
// connects.
func TestUpstreamDownCongestion(t *testing.T) {
	forModeList(t, remoteModes, nil, func(t *testing.T, e *env) {
		e.mosq.Stop()
		r := newRaw(t, e.gw.Addr)
		r.send(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
			Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: mqttsn.ProtocolID, Duration: 60, ClientID: []byte("down-" + e.mode),
		}})
		if rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode; rc != mqttsn.RejectedCongestion {
			t.Fatalf("CONNACK %v with the broker down, want congestion", rc)
		}
		// The loop handles packets in order: once this PINGREQ is answered,
		// the refused session has been dropped.
		r.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
		r.expect(mqttsn.TypeDisconnect)
		if s := e.gw.Stats(); s.Sessions != 0 {
			t.Errorf("%d sessions kept for a refused client", s.Sessions)
		}
		e.mosq.Start()
		deadline := time.Now().Add(waitTimeout)
		for {
			r.send(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
				Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: mqttsn.ProtocolID, Duration: 60, ClientID: []byte("down-" + e.mode),
			}})
			rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode
			if rc == mqttsn.Accepted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still CONNACK %v after the broker came back", rc)
			}
		}
	})
}

// TestPubackAfterBrokerAck: a QoS 1 PUBLISH is acknowledged to the client
// only once the broker has it: with the broker hanging (paused, the
// connection open) no PUBACK comes; when it answers again, the PUBACK
// follows. With the broker gone, the clean upstream session fails the
// publish at once (bridge/paho: nothing would send it again) and the
// client gets congestion; its retry once the broker is back is accepted.
func TestPubackAfterBrokerAck(t *testing.T) {
	forModeList(t, remoteModes, nil, func(t *testing.T, e *env) {
		r := newRaw(t, e.gw.Addr)
		r.connect("ack-"+e.mode, true, 600)
		id := r.register("ack/t", 1)
		sub := bridgetest.Subscribe(t, e.url, "ack/#", 1)
		e.mosq.Pause()
		r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: 5, Data: []byte("held")}})
		r.nothing(time.Second)
		e.mosq.Resume()
		pa := r.expect(mqttsn.TypePuback).Puback
		if pa.MsgID != 5 || pa.ReturnCode != mqttsn.Accepted {
			t.Fatalf("PUBACK %+v", pa)
		}
		if m := bridgetest.Recv(t, sub, waitTimeout); string(m.Payload) != "held" {
			t.Fatalf("MQTT subscriber got %q, want held", m.Payload)
		}

		e.mosq.Stop()
		r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: 6, Data: []byte("retried")}})
		if pa := r.expect(mqttsn.TypePuback).Puback; pa.MsgID != 6 || pa.ReturnCode != mqttsn.RejectedCongestion {
			t.Fatalf("PUBACK %+v with the broker gone, want congestion for 6", pa)
		}
		e.mosq.Start()
		sub = bridgetest.Subscribe(t, e.url, "ack/#", 1)
		deadline := time.Now().Add(waitTimeout)
		for {
			r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1, DUP: true}, TopicID: id, MsgID: 6, Data: []byte("retried")}})
			pa := r.expect(mqttsn.TypePuback).Puback
			if pa.MsgID == 6 && pa.ReturnCode == mqttsn.Accepted {
				break
			}
			if pa.MsgID != 6 || pa.ReturnCode != mqttsn.RejectedCongestion || time.Now().After(deadline) {
				t.Fatalf("PUBACK %+v for the retry after the broker came back", pa)
			}
		}
		if m := bridgetest.Recv(t, sub, waitTimeout); string(m.Payload) != "retried" {
			t.Fatalf("MQTT subscriber got %q, want retried", m.Payload)
		}
	})
}

// TestMaxInflightRealBroker: with the broker hanging (paused, the
// connection open), QoS 1 PUBLISHes wait for its acknowledgement; beyond
// MaxInflight of them the next one is refused with congestion (0x01) at
// once; when the broker answers again, the held ones are acknowledged as
// accepted and arrive.
func TestMaxInflightRealBroker(t *testing.T) {
	limit := func(c *bridge.Config) { c.Session.MaxInflight = 2 }
	forModeList(t, remoteModes, limit, func(t *testing.T, e *env) {
		r := newRaw(t, e.gw.Addr)
		r.connect("mi-"+e.mode, true, 600)
		id := r.register("mi/t", 1)
		sub := bridgetest.Subscribe(t, e.url, "mi/#", 1)
		e.mosq.Pause()
		for i := range 3 {
			r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
				Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: uint16(20 + i), Data: fmt.Appendf(nil, "m%d", i),
			}})
		}
		if pa := r.expect(mqttsn.TypePuback).Puback; pa.MsgID != 22 || pa.TopicID != id || pa.ReturnCode != mqttsn.RejectedCongestion {
			t.Fatalf("PUBACK %+v, want congestion for MsgId 22 (third in flight, limit 2)", pa)
		}
		r.nothing(quiet)
		e.mosq.Resume()
		got := map[uint16]bool{}
		for range 2 {
			pa := r.expect(mqttsn.TypePuback).Puback
			if (pa.MsgID != 20 && pa.MsgID != 21) || pa.ReturnCode != mqttsn.Accepted || got[pa.MsgID] {
				t.Fatalf("PUBACK %+v, want accepted for 20 and 21 once each", pa)
			}
			got[pa.MsgID] = true
		}
		// The slots are free again.
		r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: 23, Data: []byte("after")}})
		if pa := r.expect(mqttsn.TypePuback).Puback; pa.MsgID != 23 || pa.ReturnCode != mqttsn.Accepted {
			t.Fatalf("PUBACK %+v after the broker came back, want accepted 23", pa)
		}
		// The held ones may come first, depending on whether the
		// subscriber was in before they were sent.
		for {
			m := bridgetest.Recv(t, sub, waitTimeout)
			if m.Topic != "mi/t" || (string(m.Payload) != "m0" && string(m.Payload) != "m1" && string(m.Payload) != "after") {
				t.Fatalf("MQTT subscriber got %q %q, want mi/t m0, m1 or after", m.Topic, m.Payload)
			}
			if string(m.Payload) == "after" {
				break
			}
		}
		noMQTT(t, sub) // in particular, m2 (refused) never arrives
	})
}

// TestUpstreamRestart: after the broker restarts, the upstream sessions
// come back on their own (reconnect with back-off, subscriptions made
// again) and the MQTT-SN client, which noticed nothing, gets messages
// again.
func TestUpstreamRestart(t *testing.T) {
	forModeList(t, remoteModes, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sn, msgs := snClient(t, e.gw.Addr, client.Config{ClientID: "restart-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", sn.Connect(ctx))
		_, err := sn.Subscribe(ctx, client.FilterName("rs/t"), 1)
		must(t, "subscribe", err)
		e.mosq.Stop()
		e.mosq.Start()
		pub := bridgetest.Connect(t, e.url, nil)
		deadline := time.Now().Add(waitTimeout)
		for i := 0; ; i++ {
			bridgetest.PublishClient(t, pub, "rs/t", []byte("after restart"), 1, false)
			select {
			case m := <-msgs:
				if string(m.Payload) != "after restart" {
					t.Fatalf("got %q", m.Payload)
				}
				must(t, "ping", sn.Ping(ctx))
				return
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no message through the gateway %v after the broker restarted (%d tries)", waitTimeout, i+1)
			}
		}
	})
}
