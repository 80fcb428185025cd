package session

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

func TestDeliveryRegisterFirst(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.subscribe(1, "s/#", 1, 0)
	// Unknown topic: REGISTER first, PUBLISH after REGACK. [MQTT-SN 1.2 §6.10]
	h.expect("message", h.step(msgEv("s/a", "v1", 1)), sendEff(registerPkt(1, 1, "s/a")))
	h.expect("second message queued", h.step(msgEv("s/a", "v2", 1)))
	h.expect("REGACK", h.pkt(regackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "v1")))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 2, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "v2")))
	h.expect("PUBACK 2", h.pkt(pubackPkt(1, 3, mqttsn.Accepted)))
	if h.s.Queued() != 0 {
		t.Fatalf("Queued = %d", h.s.Queued())
	}
}

func TestDeliveryTopicIDs(t *testing.T) {
	h := newHarness(t, Config{Predefined: predef{7: "pre/seven"}})
	h.connect(true, 0)
	h.subscribe(1, "#", 0, 0)
	h.subscribe(2, "n/x", 0, 1)
	h.expect("predefined", h.step(msgEv("pre/seven", "a", 0)), sendEff(publishPkt(0, mqttsn.TopicIDPredefined, 7, 0, "a")))
	h.expect("registered by SUBACK", h.step(msgEv("n/x", "b", 0)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "b")))
	h.expect("short", h.step(msgEv("ab", "c", 0)), sendEff(publishPkt(0, mqttsn.TopicIDShort, 'a'<<8|'b', 0, "c")))
	h.expect("retain kept", h.step(Event{Kind: EvMessage, Topic: "ab", Payload: []byte("d"), Retain: true}),
		sendEff(retainOf(publishPkt(0, mqttsn.TopicIDShort, 'a'<<8|'b', 0, "d"))))
}

func TestDeliveryQoSCapped(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.subscribe(1, "a/+", 0, 0)
	h.subscribe(2, "a/b", 1, 1)
	h.expect("capped at 1 (max of matching)", h.step(msgEv("a/b", "x", 2)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.pkt(pubackPkt(1, 1, mqttsn.Accepted))
	h.expect("capped at 0", h.step(msgEv("a/c", "y", 2)), sendEff(registerPkt(2, 2, "a/c")))
	h.expect("REGACK", h.pkt(regackPkt(2, 2, mqttsn.Accepted)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 2, 0, "y")))
}

func TestDeliveryQoS2(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.subscribe(1, "a/b", 2, 1)
	h.expect("PUBLISH", h.step(msgEv("a/b", "x", 2)), sendEff(publishPkt(2, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.expect("queued behind", h.step(msgEv("a/b", "y", 0)))
	h.expect("PUBREC", h.pkt(pubrecPkt(1)), sendEff(pubrelPkt(1)))
	h.expect("PUBREC again", h.pkt(pubrecPkt(1)), sendEff(pubrelPkt(1)))
	h.expect("PUBCOMP", h.pkt(pubcompPkt(1)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "y")))
	h.expect("late PUBCOMP ignored", h.pkt(pubcompPkt(1)))
}

// TestDeliveryOrder: one ordered queue; a QoS 0 message never overtakes
// a QoS 1 message in flight, and only one REGISTER or QoS>0 PUBLISH is
// outstanding. [MQTT-SN 1.2 §6.5, §6.6]
func TestDeliveryOrder(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.subscribe(1, "#", 1, 0)
	h.pkt(registerPkt(0, 100, "t/1")) // id 1, known to the client
	h.expect("q1", h.step(msgEv("t/1", "1", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
	h.expect("q0 waits", h.step(msgEv("t/1", "2", 0)))
	h.expect("new topic waits", h.step(msgEv("t/2", "3", 1)))
	h.expect("q0 waits", h.step(msgEv("t/1", "4", 0)))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)),
		sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "2")),
		sendEff(registerPkt(2, 2, "t/2")))
	h.expect("REGACK", h.pkt(regackPkt(2, 2, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 2, 3, "3")))
	h.expect("PUBACK", h.pkt(pubackPkt(2, 3, mqttsn.Accepted)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "4")))
}

func TestDeliveryRetriesWithDUP(t *testing.T) {
	h := newHarness(t, Config{RetryInterval: 10 * time.Second, RetryCount: 2})
	h.connectWill(true, 0, "w", "gone")
	h.subscribe(1, "a/b", 1, 1)
	h.expect("PUBLISH", h.step(msgEv("a/b", "x", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("NextDeadline = %v", d.Sub(t0))
	}
	h.at(9 * time.Second)
	h.expect("early tick", h.step(Event{Kind: EvTick}))
	h.at(10 * time.Second)
	h.expect("retry 1", h.step(Event{Kind: EvTick}), sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
	h.at(20 * time.Second)
	h.expect("retry 2", h.step(Event{Kind: EvTick}), sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
	h.at(30 * time.Second)
	// [MQTT-SN 1.2 §6.13] after N_retry retransmissions: lost.
	h.expect("exhausted", h.step(Event{Kind: EvTick}),
		willEff("w", "gone", mqttsn.QoS1, true), closeEff(true), stateEff(Active, Lost))
}

func TestDeliveryRetriesRegisterAndPubrel(t *testing.T) {
	h := newHarness(t, Config{RetryInterval: 10 * time.Second, RetryCount: 1})
	h.connect(true, 0)
	h.subscribe(1, "a/#", 2, 0)
	h.expect("REGISTER", h.step(msgEv("a/b", "x", 2)), sendEff(registerPkt(1, 1, "a/b")))
	h.at(10 * time.Second)
	h.expect("REGISTER again", h.step(Event{Kind: EvTick}), sendEff(registerPkt(1, 1, "a/b")))
	h.expect("REGACK", h.pkt(regackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(2, mqttsn.TopicIDNormal, 1, 2, "x")))
	h.expect("PUBREC", h.pkt(pubrecPkt(2)), sendEff(pubrelPkt(2)))
	h.at(20 * time.Second)
	h.expect("PUBREL again (no DUP flag)", h.step(Event{Kind: EvTick}), sendEff(pubrelPkt(2)))
	h.at(30 * time.Second)
	h.expect("exhausted", h.step(Event{Kind: EvTick}), closeEff(true), stateEff(Active, Lost))
}

func TestDeliveryQueueOverflow(t *testing.T) {
	h := newHarness(t, Config{MaxQueue: 2})
	h.connect(true, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.step(msgEv("a/b", "0", 1)) // in flight
	for _, p := range []string{"1", "2", "3"} {
		h.step(msgEv("a/b", p, 1))
	}
	if h.s.Dropped() != 1 {
		t.Fatalf("Dropped = %d, want 1", h.s.Dropped())
	}
	h.expect("oldest (1) dropped", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "2")))
}

func TestDeliveryPubackInvalidTopicID(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.subscribe(1, "a/#", 0, 0)
	h.step(msgEv("a/b", "x", 0))
	h.expect("published", h.pkt(regackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x")))
	// The client lost the mapping: the gateway deletes it and REGISTERs
	// again next time. [MQTT-SN 1.2 §6.10]
	h.expect("PUBACK 0x02", h.pkt(pubackPkt(1, 0, mqttsn.RejectedInvalidTopicID)))
	h.expect("REGISTER again", h.step(msgEv("a/b", "y", 0)), sendEff(registerPkt(2, 2, "a/b")))
}

func TestDeliveryTooLarge(t *testing.T) {
	h := newHarness(t, Config{MaxPacket: 20})
	h.connect(true, 0)
	h.subscribe(1, "ab", 0, 1)
	h.expect("payload too large", h.step(msgEv("ab", "0123456789abcdef", 0)))
	h.expect("fits", h.step(msgEv("ab", "0123", 0)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "0123")))
	if h.s.Stats().TooLarge != 1 {
		t.Fatalf("TooLarge = %d", h.s.Stats().TooLarge)
	}
}

// Deliveries wait for a pending SUBACK so that the client knows the topic
// id before the (retained) message that follows its subscription.
func TestDeliveryHeldUntilSuback(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.expect("SUBSCRIBE", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 9, "r/t", 0)), subEff(9, "r/t", 1))
	h.expect("retained message before SUBACK", h.step(Event{Kind: EvMessage, Topic: "r/t", Payload: []byte("old"), QoS: 1, Retain: true}))
	h.expect("SUBACK then PUBLISH", h.step(Event{Kind: EvSubscribed, MsgID: 9, Granted: 1}),
		sendEff(subackPkt(1, 1, 9, mqttsn.Accepted)),
		sendEff(retainOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "old"))))
}

func TestRegistryFullDropsDelivery(t *testing.T) {
	h := newHarness(t, Config{MaxTopics: 1})
	h.connect(true, 0)
	h.subscribe(1, "#", 0, 0)
	h.pkt(registerPkt(0, 1, "a"))
	h.expect("no id left", h.step(msgEv("b/c", "x", 0)))
	if h.s.Stats().Rejected != 1 {
		t.Fatalf("Rejected = %d", h.s.Stats().Rejected)
	}
}
