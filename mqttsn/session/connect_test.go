package session

import (
	"errors"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

func TestConnect(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 30)
	h.wantState(Active)
	if h.s.ClientID() != "c1" || h.s.KeepAlive() != 30*time.Second || h.s.Persistent() {
		t.Fatalf("accessors: id %q keepalive %v persistent %v", h.s.ClientID(), h.s.KeepAlive(), h.s.Persistent())
	}
	// A retransmitted CONNECT (CONNACK lost) with CleanSession false on an
	// open upstream is answered at once.
	h.expect("re-CONNECT", h.pkt(connectPkt("c1", false, false, 30)),
		closeEff(true), stateEff(Active, Connecting),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	h.expect("reopened", h.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	h.expect("re-CONNECT persistent", h.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Active, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	if !h.s.Persistent() {
		t.Fatal("Persistent() = false after CleanSession false")
	}
}

func TestConnectUpstreamFails(t *testing.T) {
	h := newHarness(t, Config{})
	h.pkt(connectPkt("c1", true, false, 0))
	h.expect("open failed", h.step(Event{Kind: EvUpstreamOpened, Err: errors.New("refused")}),
		sendEff(connackPkt(mqttsn.RejectedCongestion)), stateEff(Connecting, Disconnected))
	// A stale second answer changes nothing.
	h.expect("stale", h.step(Event{Kind: EvUpstreamOpened}))
}

func TestConnectInvalidClientID(t *testing.T) {
	for _, id := range []string{"", "123456789012345678901234"} {
		h := newHarness(t, Config{})
		h.expect("CONNECT "+id, h.pkt(connectPkt(id, true, false, 0)), sendEff(connackPkt(mqttsn.RejectedNotSupported)))
		h.wantState(Disconnected)
	}
}

func willTopicPkt(topic string, qos mqttsn.QoS, retain bool) mqttsn.Packet {
	p := mqttsn.Packet{Type: mqttsn.TypeWillTopic}
	if topic != "" {
		p.WillTopic = mqttsn.WillTopic{Flags: mqttsn.Flags{QoS: qos, Retain: retain}, Topic: []byte(topic)}
	}
	return p
}

func willMsgPkt(msg string) mqttsn.Packet {
	return mqttsn.Packet{Type: mqttsn.TypeWillMsg, WillMsg: mqttsn.WillMsg{Msg: []byte(msg)}}
}

// connectWill runs CONNECT with the will dialogue. [MQTT-SN 1.2 §6.2]
func (h *harness) connectWill(clean bool, keepAlive uint16, topic, msg string) {
	h.t.Helper()
	from := h.s.State()
	h.expect("CONNECT will", h.pkt(connectPkt("c1", clean, true, keepAlive)),
		stateEff(from, Connecting), sendEff(typ(mqttsn.TypeWillTopicReq)))
	h.expect("WILLTOPIC", h.pkt(willTopicPkt(topic, mqttsn.QoS1, true)), sendEff(typ(mqttsn.TypeWillMsgReq)))
	h.expect("WILLMSG", h.pkt(willMsgPkt(msg)),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", CleanSession: clean, KeepAlive: time.Duration(keepAlive) * time.Second})
	h.expect("opened", h.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
}

func TestWillDialogueAndLoss(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(true, 10, "w/t", "gone")
	// Keep-alive 10 s: lost after 15 s (+50%). [MQTT-SN 1.2 §7.2]
	h.at(15 * time.Second)
	h.expect("keepalive expiry", h.step(Event{Kind: EvTick}),
		willEff("w/t", "gone", mqttsn.QoS1, true), closeEff(true), stateEff(Active, Lost))
}

func TestWillDialogueRetransmissions(t *testing.T) {
	h := newHarness(t, Config{})
	h.pkt(connectPkt("c1", true, true, 0))
	// CONNECT again (WILLTOPICREQ lost): asked again.
	h.expect("CONNECT again", h.pkt(connectPkt("c1", true, true, 0)), sendEff(typ(mqttsn.TypeWillTopicReq)))
	h.pkt(willTopicPkt("a", 0, false))
	// WILLTOPIC again (WILLMSGREQ lost): asked again, topic replaced.
	h.expect("WILLTOPIC again", h.pkt(willTopicPkt("b", 0, false)), sendEff(typ(mqttsn.TypeWillMsgReq)))
	h.pkt(willMsgPkt("m"))
	h.step(Event{Kind: EvUpstreamOpened})
	// WILLMSG again (CONNACK lost): CONNACK again.
	h.expect("WILLMSG again", h.pkt(willMsgPkt("m")), sendEff(connackPkt(mqttsn.Accepted)))
	h.expect("disconnect", h.pkt(disconnectPkt(0)),
		sendEff(typ(mqttsn.TypeDisconnect)), closeEff(true), stateEff(Active, Disconnected))
}

func TestWillDialogueTimeout(t *testing.T) {
	h := newHarness(t, Config{RetryInterval: 10 * time.Second, RetryCount: 3})
	h.pkt(connectPkt("c1", true, true, 0))
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(40 * time.Second)) {
		t.Fatalf("NextDeadline = %v", d)
	}
	h.at(40 * time.Second)
	h.expect("abandoned", h.step(Event{Kind: EvTick}), stateEff(Connecting, Disconnected))
}

func TestEmptyWillTopicMeansNoWill(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(false, 10, "w/t", "gone")
	// CleanSession=false, Will=true and an empty WILLTOPIC deletes the
	// stored will. [MQTT-SN 1.2 §6.3]
	h.expect("CONNECT", h.pkt(connectPkt("c1", false, true, 10)), stateEff(Active, Connecting), sendEff(typ(mqttsn.TypeWillTopicReq)))
	h.expect("empty WILLTOPIC", h.pkt(willTopicPkt("", 0, false)), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	h.at(15 * time.Second)
	h.expect("lost without will", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Active, Lost))
}

func TestPersistentWillKeptAcrossReconnect(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(false, 10, "w/t", "gone")
	h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(false), stateEff(Active, Disconnected))
	h.at(time.Minute)
	h.expect("CONNECT no will", h.pkt(connectPkt("c1", false, false, 10)),
		stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 10 * time.Second})
	h.step(Event{Kind: EvUpstreamOpened})
	h.at(time.Minute + 15*time.Second)
	h.expect("lost", h.step(Event{Kind: EvTick}), willEff("w/t", "gone", mqttsn.QoS1, true), closeEff(false), stateEff(Active, Lost))
}

func TestWillUpdates(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(true, 100, "w/t", "gone")
	upd := mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd, WillTopicUpd: mqttsn.WillTopicUpd{
		Flags: mqttsn.Flags{QoS: mqttsn.QoS2}, Topic: []byte("w/new")}}
	h.expect("WILLTOPICUPD", h.pkt(upd), sendEff(mqttsn.Packet{Type: mqttsn.TypeWillTopicResp}))
	h.expect("WILLMSGUPD", h.pkt(mqttsn.Packet{Type: mqttsn.TypeWillMsgUpd, WillMsgUpd: mqttsn.WillMsgUpd{Msg: []byte("bye")}}),
		sendEff(mqttsn.Packet{Type: mqttsn.TypeWillMsgResp}))
	bad := mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd, WillTopicUpd: mqttsn.WillTopicUpd{Topic: []byte("w/#")}}
	h.expect("invalid WILLTOPICUPD", h.pkt(bad),
		sendEff(mqttsn.Packet{Type: mqttsn.TypeWillTopicResp, WillTopicResp: mqttsn.WillTopicResp{ReturnCode: mqttsn.RejectedInvalidTopicID}}))
	// Keep-alive 100 s (> 1 min): lost after 110 s, not before.
	h.at(109 * time.Second)
	h.expect("not yet", h.step(Event{Kind: EvTick}))
	h.at(110 * time.Second)
	h.expect("lost", h.step(Event{Kind: EvTick}), willEff("w/new", "bye", mqttsn.QoS2, false), closeEff(true), stateEff(Active, Lost))

	h = newHarness(t, Config{})
	h.connectWill(true, 100, "w/t", "gone")
	h.expect("empty WILLTOPICUPD", h.pkt(mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd}), sendEff(mqttsn.Packet{Type: mqttsn.TypeWillTopicResp}))
	h.at(110 * time.Second)
	h.expect("lost, will deleted", h.step(Event{Kind: EvTick}), closeEff(true), stateEff(Active, Lost))
}

func TestKeepAliveTolerance(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keepAlive uint16
		lostAfter time.Duration
	}{
		{"30s +50%", 30, 45 * time.Second},
		{"60s +50%", 60, 90 * time.Second},
		{"61s +10%", 61, 67100 * time.Millisecond},
		{"600s +10%", 600, 660 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.connect(true, tt.keepAlive)
			if d := h.s.NextDeadline(); !d.Equal(t0.Add(tt.lostAfter)) {
				t.Fatalf("NextDeadline = %v, want %v", d.Sub(t0), tt.lostAfter)
			}
			h.now = t0.Add(tt.lostAfter - time.Millisecond)
			h.expect("just before", h.step(Event{Kind: EvTick}))
			h.now = t0.Add(tt.lostAfter)
			h.expect("expired", h.step(Event{Kind: EvTick}), closeEff(true), stateEff(Active, Lost))
		})
	}
}

func TestKeepAliveRestartedByAnyPacket(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 10)
	h.at(14 * time.Second)
	h.expect("PINGREQ", h.pkt(typ(mqttsn.TypePingreq)), sendEff(typ(mqttsn.TypePingresp)))
	h.at(28 * time.Second)
	h.pkt(registerPkt(0, 1, "a/b"))
	h.at(42 * time.Second)
	h.expect("alive", h.step(Event{Kind: EvTick}))
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(43 * time.Second)) {
		t.Fatalf("NextDeadline = %v", d.Sub(t0))
	}
}

func TestKeepAliveZeroNotSupervised(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	if d := h.s.NextDeadline(); !d.IsZero() {
		t.Fatalf("NextDeadline = %v, want zero", d)
	}
	h.at(1000 * time.Hour)
	h.expect("tick", h.step(Event{Kind: EvTick}))
	h.wantState(Active)
}

func TestDisconnect(t *testing.T) {
	h := newHarness(t, Config{})
	h.connectWill(true, 10, "w", "x")
	h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(true), stateEff(Active, Disconnected))
	if d := h.s.NextDeadline(); !d.IsZero() {
		t.Fatalf("disconnected is not supervised; NextDeadline = %v", d)
	}
	h.expect("DISCONNECT again", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)))
	// [MQTT-SN 1.2 §6.12] unknown client: unsolicited DISCONNECT.
	h.expect("PUBLISH while disconnected", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")), sendEff(typ(mqttsn.TypeDisconnect)))
	h.expect("PINGREQ while disconnected", h.pkt(pingreqPkt("c1")), sendEff(typ(mqttsn.TypeDisconnect)))
}

func TestDisconnectWhileUpstreamOpening(t *testing.T) {
	h := newHarness(t, Config{})
	h.pkt(connectPkt("c1", true, false, 0))
	h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), stateEff(Connecting, Disconnected))
	h.expect("opened late: closed again", h.step(Event{Kind: EvUpstreamOpened}), closeEff(true))
}
