package bridge_test

import (
	"testing"
	"time"

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
// only once the broker has it: with the broker down no PUBACK comes; when
// it is back, the PUBACK follows and the message arrives.
func TestPubackAfterBrokerAck(t *testing.T) {
	forModeList(t, remoteModes, nil, func(t *testing.T, e *env) {
		r := newRaw(t, e.gw.Addr)
		r.connect("ack-"+e.mode, true, 600)
		id := r.register("ack/t", 1)
		e.mosq.Stop()
		r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: 5, Data: []byte("held")}})
		r.nothing(time.Second)
		e.mosq.Start()
		pa := r.expect(mqttsn.TypePuback).Puback
		if pa.MsgID != 5 || pa.ReturnCode != mqttsn.Accepted {
			t.Fatalf("PUBACK %+v", pa)
		}
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
