package session

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// A SUBSCRIBE whose upstream answer died with the upstream session must
// not hold deliveries back after the client reconnects.
func TestUpstreamCloseDropsPendingRequests(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 10)
	h.subscribe(1, "a/b", 1, 1)
	h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 2, "c/#", 0))
	h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "up"))
	h.at(15 * time.Second)
	h.expect("lost", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Active, Lost))
	h.expect("late SUBSCRIBE answer ignored", h.step(Event{Kind: EvSubscribed, MsgID: 2, Granted: 1}))
	h.expect("late PUBLISH answer ignored", h.step(Event{Kind: EvPublished, MsgID: 3}))
	h.pkt(connectPkt("c1", false, false, 10))
	h.step(Event{Kind: EvUpstreamOpened})
	h.expect("delivery not held", h.step(msgEv("a/b", "x", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.expect("client retransmits its PUBLISH: forwarded again", h.pkt(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "up"))),
		pubEff(3, "a/b", "up", 1, false))
}

// CONNECT with the Will flag from a sleeping client: the will dialogue
// runs, CONNACK follows at once (the upstream session stayed open), then
// the buffered messages.
func TestWakeByConnectWithWill(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 10)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "1", 1))
	h.expect("CONNECT", h.pkt(connectPkt("c1", false, true, 10)), stateEff(Asleep, Connecting), sendEff(typ(mqttsn.TypeWillTopicReq)))
	h.expect("WILLTOPIC", h.pkt(willTopicPkt("w", 0, false)), sendEff(typ(mqttsn.TypeWillMsgReq)))
	h.expect("WILLMSG", h.pkt(willMsgPkt("bye")),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
}

func TestCleanConnectDiscardsSession(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(false, 10, "w", "x")
	h.subscribe(1, "a/b", 1, 1)
	h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(false), stateEff(Active, Disconnected))
	h.pkt(connectPkt("c1", true, false, 10))
	h.step(Event{Kind: EvUpstreamOpened})
	h.expect("old registration gone", h.pkt(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x")),
		sendEff(pubackPkt(1, 0, mqttsn.RejectedInvalidTopicID)))
	if len(h.s.subs) != 0 || h.s.will.Topic != "" {
		t.Fatalf("subscriptions %v, will %+v kept", h.s.subs, h.s.will)
	}
	h.at(15 * time.Second)
	h.expect("no will", h.step(Event{Kind: EvTick}), closeEff(true), stateEff(Active, Lost))
}

func TestConnectDifferentClientIDResets(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.pkt(registerPkt(0, 1, "a"))
	h.expect("other client", h.pkt(connectPkt("c2", false, false, 0)),
		closeEff(false), stateEff(Active, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c2"})
	if h.s.ClientID() != "c2" || h.s.reg.len() != 0 {
		t.Fatalf("client %q registry %d", h.s.ClientID(), h.s.reg.len())
	}
}

func TestDisconnectDurationZeroIsPlain(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.expect("DISCONNECT(0)", h.pkt(mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: mqttsn.Disconnect{HasDuration: true}}),
		sendEff(typ(mqttsn.TypeDisconnect)), closeEff(true), stateEff(Active, Disconnected))
}

func TestMessagesWithoutSessionDiscarded(t *testing.T) {
	h := newHarness(t, Config{})
	h.expect("before CONNECT", h.step(msgEv("a", "x", 1)))
	h.connect(false, 0)
	h.pkt(disconnectPkt(0))
	h.expect("after DISCONNECT: kept for the persistent session", h.step(msgEv("ab", "y", 1)))
	h.expect("QoS 0 after DISCONNECT", h.step(msgEv("ab", "z", 0)))
	if h.s.Stats().Discarded != 2 {
		t.Fatalf("Discarded = %d", h.s.Stats().Discarded)
	}
	h.expect("reconnect", h.pkt(connectPkt("c1", false, false, 0)),
		stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1"})
	h.expect("delivered after CONNACK", h.step(Event{Kind: EvUpstreamOpened}),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active),
		sendEff(publishPkt(1, mqttsn.TopicIDShort, 'a'<<8|'b', 1, "y")))

	h = newHarness(t, Config{})
	h.connect(true, 0)
	h.pkt(disconnectPkt(0))
	h.expect("clean session: discarded", h.step(msgEv("ab", "y", 1)))
	if h.s.Stats().Discarded != 1 || h.s.Queued() != 0 {
		t.Fatalf("Discarded = %d, Queued = %d", h.s.Stats().Discarded, h.s.Queued())
	}
}

func TestMessagesQueuedWhileConnecting(t *testing.T) {
	h := newHarness(t, Config{})
	h.pkt(connectPkt("c1", false, false, 0))
	h.expect("queued", h.step(msgEv("ab", "x", 1)))
	h.expect("delivered after CONNACK", h.step(Event{Kind: EvUpstreamOpened}),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active),
		sendEff(publishPkt(1, mqttsn.TopicIDShort, 'a'<<8|'b', 1, "x")))
}

func TestPublishWhileAsleepServed(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.pkt(registerPkt(0, 1, "a/b"))
	h.sleep(60)
	h.expect("PUBLISH QoS 1", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 4, "x")), pubEff(4, "a/b", "x", 1, false))
	h.expect("PUBACK", h.step(Event{Kind: EvPublished, MsgID: 4}), sendEff(pubackPkt(1, 4, mqttsn.Accepted)))
	h.wantState(Asleep)
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	want := Config{RetryInterval: 10 * time.Second, RetryCount: 3, SleepBuffer: 100, MaxTopics: 1000,
		MaxInflight: 32, MaxQueue: 1000, MaxPacket: 65535}
	if c != want {
		t.Fatalf("WithDefaults = %+v", c)
	}
}

func TestStateString(t *testing.T) {
	for st, name := range map[State]string{Disconnected: "disconnected", Connecting: "connecting", Active: "active",
		Asleep: "asleep", Awake: "awake", Lost: "lost", 99: "unknown"} {
		if st.String() != name {
			t.Errorf("%d.String() = %q", st, st.String())
		}
		var back State
		if err := back.UnmarshalText([]byte(name)); err != nil || (st != 99 && back != st) {
			t.Errorf("UnmarshalText(%q) = %v, %v", name, back, err)
		}
	}
}

func TestMsgIDWrapsSkippingZero(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 60)
	h.subscribe(1, "ab", 1, 1)
	h.s.lastMsgID = 0xFFFF
	h.expect("MsgId after 0xFFFF is 1", h.step(msgEv("ab", "x", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	// Retry (10 s) comes before keep-alive (90 s).
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("NextDeadline = %v", d.Sub(t0))
	}
}

func TestLongFormLengthLimit(t *testing.T) {
	h := newHarness(t, Config{MaxPacket: 300})
	h.connect(true, 0)
	h.subscribe(1, "ab", 0, 1)
	big := string(make([]byte, 292)) // 7 + 292 = 299 octets + 2 for the long form
	h.expect("301 octets: dropped", h.step(msgEv("ab", big, 0)))
	h.expect("298+2 octets: sent", h.step(msgEv("ab", big[:291], 0)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, big[:291])))
}
