package session

// Regression cases from other MQTT-SN gateways' trackers (issue 4).

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// PINGRESP ends the awake period only after the acknowledgements of the
// buffered QoS 1 messages, not right after sending them. [MQTT-SN 1.2 §6.14]
func TestRegressionPingrespAfterBufferedQoS1Acks(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "1", 1))
	h.step(msgEv("a/b", "2", 1))
	h.expect("wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
	h.expect("PUBACK 1", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "2")))
	h.wantState(Awake)
	h.expect("PUBACK 2 then PINGRESP", h.pkt(pubackPkt(1, 2, mqttsn.Accepted)),
		sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
}

// A message for a sleeping client on a topic it has no id for is
// delivered on wake-up as REGISTER, then (after REGACK) PUBLISH, then
// PINGRESP.
func TestRegressionRegisterToSleepingClientThenPublish(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/#", 1, 0)
	h.sleep(60)
	h.expect("buffered, nothing sent while asleep", h.step(msgEv("a/new", "x", 1)))
	h.expect("wake: REGISTER first", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(registerPkt(1, 1, "a/new")))
	h.expect("REGACK: PUBLISH", h.pkt(regackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "x")))
	h.expect("PUBACK: PINGRESP", h.pkt(pubackPkt(1, 2, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
}

// A sleeping client that wakes with CONNECT (not PINGREQ) gets its
// buffered messages, nothing lost.
func TestRegressionBufferedDeliveredOnWakeByConnect(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 10)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "1", 1))
	h.step(msgEv("a/b", "2", 1))
	h.at(30 * time.Second)
	h.expect("CONNECT", h.pkt(connectPkt("c1", false, false, 10)),
		stateEff(Asleep, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active),
		sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "2")))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 2, mqttsn.Accepted)))
	h.wantState(Active)
}

// SUBACK of a wildcard filter carries topic id 0x0000 and echoes the
// SUBSCRIBE's MsgId. [MQTT-SN 1.2 §6.9]
func TestRegressionWildcardSubackTopicIDZeroEchoesMsgID(t *testing.T) {
	for _, filter := range []string{"#", "a/+", "a/+/c/#", "+"} {
		t.Run(filter, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.connect(true, 0)
			h.pkt(registerPkt(0, 1, "a/b")) // an id exists; still 0 for the wildcard
			h.expect("SUBSCRIBE", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 0xBEEF, filter, 0)), subEff(0xBEEF, filter, 1))
			h.expect("SUBACK", h.step(Event{Kind: EvSubscribed, MsgID: 0xBEEF, Granted: 1}),
				sendEff(subackPkt(1, 0x0000, 0xBEEF, mqttsn.Accepted)))
		})
	}
}

// A REGACK rejecting the gateway's REGISTER means no PUBLISH on that
// topic, neither for that message nor later ones. [MQTT-SN 1.2 §6.10]
func TestRegressionNoPublishAfterRejectedRegack(t *testing.T) {
	for _, rc := range []mqttsn.ReturnCode{mqttsn.RejectedInvalidTopicID, mqttsn.RejectedNotSupported} {
		t.Run(rc.String(), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.connect(true, 0)
			h.subscribe(1, "a/#", 1, 0)
			h.expect("REGISTER", h.step(msgEv("a/x", "1", 1)), sendEff(registerPkt(1, 1, "a/x")))
			h.expect("queued", h.step(msgEv("a/x", "2", 1)))
			h.expect("queued other", h.step(msgEv("a/y", "3", 1)))
			// Rejected: no PUBLISH for a/x (not "1", not "2"); a/y goes on.
			h.expect("REGACK rejected", h.pkt(regackPkt(0, 1, rc)), sendEff(registerPkt(2, 2, "a/y")))
			h.expect("REGACK a/y", h.pkt(regackPkt(2, 2, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 2, 3, "3")))
			h.expect("PUBACK", h.pkt(pubackPkt(2, 3, mqttsn.Accepted)))
			h.expect("later message on a/x dropped", h.step(msgEv("a/x", "4", 1)))
			if got := h.s.Stats().Rejected; got != 3 {
				t.Fatalf("Rejected = %d, want 3", got)
			}
			// Subscribing again revokes the rejection.
			h.subscribe(2, "a/x", 1, 3)
			h.expect("after resubscribe", h.step(msgEv("a/x", "5", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 3, 4, "5")))
		})
	}
	t.Run("congestion drops one message only", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.connect(true, 0)
		h.subscribe(1, "a/#", 0, 0)
		h.step(msgEv("a/x", "1", 0))
		h.expect("REGACK congestion", h.pkt(regackPkt(0, 1, mqttsn.RejectedCongestion)))
		h.expect("next message registers again", h.step(msgEv("a/x", "2", 0)), sendEff(registerPkt(2, 2, "a/x")))
	})
}
