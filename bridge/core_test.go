package bridge_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
)

// quiet is how long a test waits to see that something does NOT happen.
const quiet = 300 * time.Millisecond

func withPredefined(entries ...bridge.PredefinedTopic) func(*bridge.Config) {
	return func(c *bridge.Config) { c.Predefined = append(c.Predefined, entries...) }
}

func rejectedCode(t *testing.T, err error) mqttsn.ReturnCode {
	t.Helper()
	var re *client.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v, want a rejection", err)
	}
	return re.Code
}

func expectMQTT(t *testing.T, ch <-chan bridgetest.Message, topic, payload string) bridgetest.Message {
	t.Helper()
	m := bridgetest.Recv(t, ch, waitTimeout)
	if m.Topic != topic || string(m.Payload) != payload {
		t.Fatalf("MQTT subscriber got %q %q, want %q %q", m.Topic, m.Payload, topic, payload)
	}
	return m
}

func noMQTT(t *testing.T, ch <-chan bridgetest.Message) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected MQTT message %q %q", m.Topic, m.Payload)
	case <-time.After(quiet):
	}
}

// TestConnect: CONNECT/CONNACK, ClientId validation, takeover of a session
// by a CONNECT from another address, DISCONNECT acknowledged.
func TestConnect(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		t.Run("too long ClientId", func(t *testing.T) {
			r := newRaw(t, e.gw.Addr)
			id := strings.Repeat("x", mqttsn.MaxClientIDLen+1)
			r.sendBytes(append([]byte{byte(6 + len(id)), byte(mqttsn.TypeConnect), 0x04, mqttsn.ProtocolID, 0, 60}, id...))
			if rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode; rc != mqttsn.RejectedNotSupported {
				t.Fatalf("CONNACK %v for a 24-octet ClientId, want %v", rc, mqttsn.RejectedNotSupported)
			}
			// Another protocol version is refused the same way.
			r.sendBytes([]byte{8, byte(mqttsn.TypeConnect), 0x04, 0x02, 0, 60, 'a', 'b'})
			if rc := r.expect(mqttsn.TypeConnack).Connack.ReturnCode; rc != mqttsn.RejectedNotSupported {
				t.Fatalf("CONNACK %v for ProtocolId 2, want %v", rc, mqttsn.RejectedNotSupported)
			}
		})
		t.Run("takeover", func(t *testing.T) {
			a, b := newRaw(t, e.gw.Addr), newRaw(t, e.gw.Addr)
			a.connect("takeover-1", true, 60)
			b.connect("takeover-1", true, 60)
			// The old address is forgotten: it gets an unsolicited DISCONNECT.
			a.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
			a.expect(mqttsn.TypeDisconnect)
			b.send(mqttsn.Packet{Type: mqttsn.TypePingreq})
			b.expect(mqttsn.TypePingresp)
			b.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect})
			b.expect(mqttsn.TypeDisconnect)
		})
		t.Run("unknown address", func(t *testing.T) {
			r := newRaw(t, e.gw.Addr)
			r.send(mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: 1, TopicName: []byte("a/b")}})
			r.expect(mqttsn.TypeDisconnect)
			// A DISCONNECT from an unknown address is not answered.
			r.send(mqttsn.Packet{Type: mqttsn.TypeDisconnect})
			r.nothing(quiet)
		})
	})
}

// TestCleanSession: with CleanSession false, subscriptions survive a
// DISCONNECT; a later CONNECT with CleanSession true discards them.
func TestCleanSession(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sn, msgs := snClient(t, e.gw.Addr, client.Config{ClientID: "persist-" + e.mode, KeepAlive: time.Minute})
		must(t, "connect", sn.Connect(ctx))
		sa, err := sn.Subscribe(ctx, client.FilterName("cs/"+e.mode), 1)
		must(t, "subscribe", err)
		must(t, "disconnect", sn.Disconnect(ctx))

		sn2, msgs2 := snClient(t, e.gw.Addr, client.Config{ClientID: "persist-" + e.mode, KeepAlive: time.Minute})
		must(t, "reconnect", sn2.Connect(ctx))
		bridgetest.Publish(t, e.url, "cs/"+e.mode, []byte("kept"), 1, false)
		// The registration of the subscription survived too: the message
		// comes on the SUBACK's topic id, without a new REGISTER.
		if m := recvSN(t, msgs2); m.TopicID != sa.TopicID || string(m.Payload) != "kept" {
			t.Fatalf("got %+v after reconnect, want topic id %d", m, sa.TopicID)
		}
		must(t, "disconnect", sn2.Disconnect(ctx))
		// The first connection was replaced: nothing reached it.
		noSN(t, msgs, quiet)

		sn3, msgs3 := snClient(t, e.gw.Addr, client.Config{ClientID: "persist-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "clean connect", sn3.Connect(ctx))
		bridgetest.Publish(t, e.url, "cs/"+e.mode, []byte("gone"), 1, false)
		noSN(t, msgs3, quiet)
		must(t, "disconnect", sn3.Disconnect(ctx))
	})
}

// TestRegister: the same name always gets the same id within a session.
func TestRegister(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		r := newRaw(t, e.gw.Addr)
		r.connect("reg-"+e.mode, true, 60)
		a := r.register("reg/a", 1)
		b := r.register("reg/b", 2)
		if a2 := r.register("reg/a", 3); a2 != a || a == b || a == 0 || b == 0 {
			t.Fatalf("ids a=%d b=%d a again=%d: want a stable non-zero id per name", a, b, a2)
		}
	})
}

// TestPublish: PUBLISH at QoS 0, 1 and 2 with normal, predefined and short
// topic ids reaches an MQTT subscriber; an unknown topic id is rejected
// with 0x02.
func TestPublish(t *testing.T) {
	pre := withPredefined(bridge.PredefinedTopic{ID: 1, Topic: "site/alarm"})
	forModes(t, pre, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sub := bridgetest.Subscribe(t, e.url, "#", 2)
		sn, _ := snClient(t, e.gw.Addr, client.Config{ClientID: "pub-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", sn.Connect(ctx))
		id, err := sn.Register(ctx, "pub/normal")
		must(t, "register", err)
		short, _ := client.Short("sh")
		topics := []struct {
			topic client.Topic
			name  string
		}{{client.Registered(id), "pub/normal"}, {client.Predefined(1), "site/alarm"}, {short, "sh"}}
		for _, tp := range topics {
			for _, qos := range []mqttsn.QoS{0, 1, 2} {
				payload := fmt.Sprintf("%s q%d", tp.name, qos)
				must(t, "publish", sn.Publish(ctx, tp.topic, qos, false, []byte(payload)))
				expectMQTT(t, sub, tp.name, payload)
			}
		}
		err = sn.Publish(ctx, client.Registered(999), 1, false, []byte("x"))
		if rc := rejectedCode(t, err); rc != mqttsn.RejectedInvalidTopicID {
			t.Fatalf("unknown topic id: return code %v, want %v", rc, mqttsn.RejectedInvalidTopicID)
		}
		err = sn.Publish(ctx, client.Predefined(77), 1, false, []byte("x"))
		if rc := rejectedCode(t, err); rc != mqttsn.RejectedInvalidTopicID {
			t.Fatalf("unknown predefined id: return code %v, want %v", rc, mqttsn.RejectedInvalidTopicID)
		}
		noMQTT(t, sub)
	})
}

// TestPublishQoS2ExactlyOnce: a duplicate QoS 2 PUBLISH (same MsgId)
// before PUBREL is acknowledged again but not forwarded twice.
func TestPublishQoS2ExactlyOnce(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		sub := bridgetest.Subscribe(t, e.url, "q2/#", 2)
		r := newRaw(t, e.gw.Addr)
		r.connect("q2-"+e.mode, true, 60)
		id := r.register("q2/once", 1)
		pub := mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
			Flags: mqttsn.Flags{QoS: 2}, TopicID: id, MsgID: 42, Data: []byte("once"),
		}}
		r.send(pub)
		if got := r.expect(mqttsn.TypePubrec).Pubrec.MsgID; got != 42 {
			t.Fatalf("PUBREC MsgId %d", got)
		}
		pub.Publish.Flags.DUP = true
		r.send(pub)
		r.expect(mqttsn.TypePubrec)
		r.send(mqttsn.Packet{Type: mqttsn.TypePubrel, Pubrel: mqttsn.Pubrel{MsgID: 42}})
		r.expect(mqttsn.TypePubcomp)
		expectMQTT(t, sub, "q2/once", "once")
		noMQTT(t, sub)
	})
}

// TestPublishQoS0WithMsgID: some client libraries send a MsgId on QoS 0;
// the PUBLISH is accepted and forwarded, and nothing is answered.
func TestPublishQoS0WithMsgID(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		sub := bridgetest.Subscribe(t, e.url, "q0/#", 0)
		r := newRaw(t, e.gw.Addr)
		r.connect("q0-"+e.mode, true, 60)
		id := r.register("q0/id", 1)
		r.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{TopicID: id, MsgID: 0x1234, Data: []byte("v")}})
		expectMQTT(t, sub, "q0/id", "v")
		r.nothing(quiet)
	})
}

// TestPublishQoSMinus1: from an address that never connected, with a
// predefined id and a short topic name, forwarded at QoS 0.
func TestPublishQoSMinus1(t *testing.T) {
	pre := withPredefined(bridge.PredefinedTopic{ID: 1, Topic: "site/alarm"})
	forModes(t, pre, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sub := bridgetest.Subscribe(t, e.url, "#", 0)
		sn, _ := snClient(t, e.gw.Addr, client.Config{})
		must(t, "publish predefined", sn.Publish(ctx, client.Predefined(1), mqttsn.QoSMinus1, false, []byte("fire")))
		m := expectMQTT(t, sub, "site/alarm", "fire")
		if m.QoS != 0 {
			t.Errorf("QoS -1 arrived at QoS %d, want 0", m.QoS)
		}
		short, _ := client.Short("qm")
		must(t, "publish short", sn.Publish(ctx, short, mqttsn.QoSMinus1, false, []byte("x")))
		expectMQTT(t, sub, "qm", "x")
		must(t, "publish unknown", sn.Publish(ctx, client.Predefined(99), mqttsn.QoSMinus1, false, []byte("lost")))
		noMQTT(t, sub)
		if s := e.gw.Stats(); s.QoSMinus1In != 2 || s.QoSMinus1Dropped != 1 {
			t.Errorf("stats: QoSMinus1In %d, QoSMinus1Dropped %d; want 2, 1", s.QoSMinus1In, s.QoSMinus1Dropped)
		}
		// A connected client's QoS -1 goes through the gateway's session too.
		c2, _ := snClient(t, e.gw.Addr, client.Config{ClientID: "qm1-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", c2.Connect(ctx))
		must(t, "publish connected", c2.Publish(ctx, client.Predefined(1), mqttsn.QoSMinus1, false, []byte("again")))
		expectMQTT(t, sub, "site/alarm", "again")
	})
}

// TestSubscribe: by topic name with + and # wildcards (SUBACK topic id 0,
// MsgId echoed), by predefined id and by short name; UNSUBSCRIBE stops the
// messages. Delivery is preceded by a gateway REGISTER when needed.
func TestSubscribe(t *testing.T) {
	pre := withPredefined(bridge.PredefinedTopic{ID: 3, Topic: "pre/three"})
	forModes(t, pre, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sn, msgs := snClient(t, e.gw.Addr, client.Config{ClientID: "sub-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", sn.Connect(ctx))
		granted := func(what string, sa mqttsn.Suback, want mqttsn.QoS) {
			t.Helper()
			if sa.ReturnCode != mqttsn.Accepted || sa.Flags.QoS != want {
				t.Errorf("SUBACK of %s: return code %v granted QoS %d, want accepted with QoS %d", what, sa.ReturnCode, sa.Flags.QoS, want)
			}
		}
		for _, f := range []string{"w/+/x", "h/#"} {
			sa, err := sn.Subscribe(ctx, client.FilterName(f), 1)
			must(t, "subscribe "+f, err)
			if sa.TopicID != 0 {
				t.Errorf("SUBACK of wildcard %s: topic id %d, want 0", f, sa.TopicID)
			}
			granted(f, sa, 1)
		}
		sa, err := sn.Subscribe(ctx, client.FilterName("plain/t"), 1)
		must(t, "subscribe plain", err)
		if sa.TopicID == 0 {
			t.Error("SUBACK of a plain topic name carries topic id 0")
		}
		granted("plain/t", sa, 1)
		sa, err = sn.Subscribe(ctx, client.FilterPredefined(3), 2)
		must(t, "subscribe predefined", err)
		if sa.TopicID != 3 {
			t.Errorf("SUBACK of predefined id 3: topic id %d", sa.TopicID)
		}
		granted("predefined 3", sa, 2)
		fs, _ := client.FilterShort("zz")
		sa, err = sn.Subscribe(ctx, fs, 0)
		must(t, "subscribe short", err)
		granted("short zz", sa, 0)

		for _, tc := range []struct {
			topic  string
			idType mqttsn.TopicIDType
		}{
			{"w/a/x", mqttsn.TopicIDNormal},
			{"h/1/2/3", mqttsn.TopicIDNormal},
			{"plain/t", mqttsn.TopicIDNormal},
			{"pre/three", mqttsn.TopicIDPredefined},
			{"zz", mqttsn.TopicIDShort},
		} {
			bridgetest.Publish(t, e.url, tc.topic, []byte("p:"+tc.topic), 1, false)
			m := recvSN(t, msgs)
			if m.TopicIDType != tc.idType || string(m.Payload) != "p:"+tc.topic {
				t.Fatalf("got %+v, want payload p:%s with topic id type %v", m, tc.topic, tc.idType)
			}
			if tc.idType == mqttsn.TopicIDNormal && m.Topic != tc.topic {
				t.Fatalf("message named %q, want %q (REGISTER before PUBLISH)", m.Topic, tc.topic)
			}
		}
		must(t, "unsubscribe", sn.Unsubscribe(ctx, client.FilterName("w/+/x")))
		bridgetest.Publish(t, e.url, "w/b/x", []byte("after"), 1, false)
		noSN(t, msgs, quiet)
	})
}

// TestDeliveryQoS: QoS 1 and 2 flows towards the client, the QoS capped
// at the granted one; retained messages reach a new subscriber with the
// retain flag.
func TestDeliveryQoS(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		for _, granted := range []mqttsn.QoS{0, 1, 2} {
			sn, msgs := snClient(t, e.gw.Addr, client.Config{ClientID: fmt.Sprintf("dq%d-%s", granted, e.mode), KeepAlive: time.Minute, CleanSession: true})
			must(t, "connect", sn.Connect(ctx))
			topic := fmt.Sprintf("dq/%d", granted)
			_, err := sn.Subscribe(ctx, client.FilterName(topic), granted)
			must(t, "subscribe", err)
			// Two messages per published QoS: the second gets through
			// only if the exchange of the first (PUBACK, or PUBREC PUBREL
			// PUBCOMP) completed.
			for _, pubQoS := range []mqttsn.QoS{2, 1} {
				want := min(pubQoS, granted)
				for i := range 2 {
					payload := fmt.Sprintf("q%d-%d", pubQoS, i)
					bridgetest.Publish(t, e.url, topic, []byte(payload), byte(pubQoS), false)
					if m := recvSN(t, msgs); m.QoS != want || string(m.Payload) != payload {
						t.Fatalf("granted %d, published at %d: got QoS %d payload %q, want QoS %d payload %q", granted, pubQoS, m.QoS, m.Payload, want, payload)
					}
				}
			}
			must(t, "disconnect", sn.Disconnect(ctx))
		}
		bridgetest.Publish(t, e.url, "ret/t", []byte("kept"), 1, true)
		sn, msgs := snClient(t, e.gw.Addr, client.Config{ClientID: "ret-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", sn.Connect(ctx))
		_, err := sn.Subscribe(ctx, client.FilterName("ret/#"), 1)
		must(t, "subscribe", err)
		if m := recvSN(t, msgs); !m.Retain || m.Topic != "ret/t" || string(m.Payload) != "kept" {
			t.Fatalf("retained delivery: %+v", m)
		}
		bridgetest.Publish(t, e.url, "ret/t", nil, 1, true) // clear it
	})
}

// TestRegisterRejected: no PUBLISH on a topic whose gateway REGISTER the
// client rejected.
func TestRegisterRejected(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		r := newRaw(t, e.gw.Addr)
		r.connect("rj-"+e.mode, true, 60)
		r.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 0}, MsgID: 9, TopicName: []byte("rj/#")}})
		if sa := r.expect(mqttsn.TypeSuback).Suback; sa.MsgID != 9 || sa.TopicID != 0 || sa.ReturnCode != mqttsn.Accepted {
			t.Fatalf("SUBACK %+v", sa)
		}
		bridgetest.Publish(t, e.url, "rj/a", []byte("no"), 0, false)
		reg := r.expect(mqttsn.TypeRegister).Register
		r.send(mqttsn.Packet{Type: mqttsn.TypeRegack, Regack: mqttsn.Regack{TopicID: reg.TopicID, MsgID: reg.MsgID, ReturnCode: mqttsn.RejectedNotSupported}})
		r.nothing(quiet)
	})
}

// TestPing: PINGREQ -> PINGRESP.
func TestPing(t *testing.T) {
	forModes(t, nil, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sn, _ := snClient(t, e.gw.Addr, client.Config{ClientID: "ping-" + e.mode, KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect", sn.Connect(ctx))
		must(t, "ping", sn.Ping(ctx))
		must(t, "disconnect", sn.Disconnect(ctx))
	})
}

// TestLimits: beyond max clients CONNACK 0x01; beyond max topics REGACK
// 0x01; never a crash.
func TestLimits(t *testing.T) {
	limits := func(c *bridge.Config) { c.MaxClients = 2; c.Session.MaxTopics = 2 }
	forModes(t, limits, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		var clients []*client.Client
		for i := range 3 {
			sn, _ := snClient(t, e.gw.Addr, client.Config{ClientID: fmt.Sprintf("lim%d-%s", i, e.mode), KeepAlive: time.Minute, CleanSession: true})
			clients = append(clients, sn)
			err := sn.Connect(ctx)
			if i < 2 {
				must(t, "connect", err)
				continue
			}
			if rc := rejectedCode(t, err); rc != mqttsn.RejectedCongestion {
				t.Fatalf("third client: CONNACK %v, want congestion", rc)
			}
		}
		if s := e.gw.Stats(); s.ClientsRejected != 1 || s.Sessions != 2 {
			t.Errorf("stats: rejected %d sessions %d; want 1, 2", s.ClientsRejected, s.Sessions)
		}
		sn := clients[0]
		for i := range 3 {
			_, err := sn.Register(ctx, fmt.Sprintf("lim/%d", i))
			if i < 2 {
				must(t, "register", err)
				continue
			}
			if rc := rejectedCode(t, err); rc != mqttsn.RejectedCongestion {
				t.Fatalf("third topic: REGACK %v, want congestion", rc)
			}
		}
		// A slot frees up when a client leaves.
		must(t, "disconnect", clients[1].Disconnect(ctx))
		must(t, "connect after leave", clients[2].Connect(ctx))
	})
}

// TestPredefinedPerClient: per-client entries apply to their client only,
// for PUBLISH and SUBSCRIBE, in both directions.
func TestPredefinedPerClient(t *testing.T) {
	pre := withPredefined(
		bridge.PredefinedTopic{ID: 1, Topic: "site/alarm"},
		bridge.PredefinedTopic{ID: 10, Topic: "own/c1", ClientID: "c1"},
	)
	forModes(t, pre, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sub := bridgetest.Subscribe(t, e.url, "own/#", 1)
		site := bridgetest.Subscribe(t, e.url, "site/#", 1)
		c1, msgs1 := snClient(t, e.gw.Addr, client.Config{ClientID: "c1", KeepAlive: time.Minute, CleanSession: true})
		c2, _ := snClient(t, e.gw.Addr, client.Config{ClientID: "c2", KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect c1", c1.Connect(ctx))
		must(t, "connect c2", c2.Connect(ctx))
		must(t, "c1 publish", c1.Publish(ctx, client.Predefined(10), 1, false, []byte("mine")))
		expectMQTT(t, sub, "own/c1", "mine")
		if rc := rejectedCode(t, c2.Publish(ctx, client.Predefined(10), 1, false, []byte("not yours"))); rc != mqttsn.RejectedInvalidTopicID {
			t.Fatalf("c2 publish on c1's id: %v", rc)
		}
		_, err := c1.Subscribe(ctx, client.FilterPredefined(10), 1)
		must(t, "c1 subscribe", err)
		bridgetest.Publish(t, e.url, "own/c1", []byte("down"), 1, false)
		expectMQTT(t, sub, "own/c1", "down")
		if m := recvSN(t, msgs1); m.TopicIDType != mqttsn.TopicIDPredefined || m.TopicID != 10 || string(m.Payload) != "down" {
			t.Fatalf("c1 got %+v", m)
		}
		// The global entry applies to c1 too.
		must(t, "c1 publish global", c1.Publish(ctx, client.Predefined(1), 0, false, []byte("g")))
		expectMQTT(t, site, "site/alarm", "g")

		// QoS -1 from a connected client uses that client's table: c1's
		// id 10 is own/c1; c2 has no id 10, so its QoS -1 is dropped.
		must(t, "c1 publish QoS -1", c1.Publish(ctx, client.Predefined(10), mqttsn.QoSMinus1, false, []byte("m1")))
		if m := expectMQTT(t, sub, "own/c1", "m1"); m.QoS != 0 {
			t.Errorf("QoS -1 arrived at QoS %d, want 0", m.QoS)
		}
		before := e.gw.Stats()
		must(t, "c2 publish QoS -1", c2.Publish(ctx, client.Predefined(10), mqttsn.QoSMinus1, false, []byte("not yours")))
		// The gateway handles c2's packets in order: once the PINGREQ is
		// answered, the QoS -1 PUBLISH has been handled.
		must(t, "c2 ping", c2.Ping(ctx))
		if s := e.gw.Stats(); s.QoSMinus1Dropped != before.QoSMinus1Dropped+1 || s.QoSMinus1In != before.QoSMinus1In {
			t.Errorf("c2 QoS -1 on c1's id: QoSMinus1Dropped %d -> %d, QoSMinus1In %d -> %d; want one more dropped, none more in",
				before.QoSMinus1Dropped, s.QoSMinus1Dropped, before.QoSMinus1In, s.QoSMinus1In)
		}
		noMQTT(t, sub)
		noMQTT(t, site)
	})
}
