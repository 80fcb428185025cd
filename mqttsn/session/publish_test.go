package session

import (
	"errors"
	"testing"

	"github.com/snbridge/snbridge/mqttsn"
)

func TestRegister(t *testing.T) {
	h := newHarness(t, Config{MaxTopics: 3, Predefined: predef{1: "pre/one", 2: "pre/two"}})
	h.connect(true, 0)
	ok := mqttsn.Accepted
	// Ids skip the client's predefined ids 1 and 2. [MQTT-SN 1.2 §6.5]
	h.expect("first", h.pkt(registerPkt(0, 1, "a")), sendEff(regackPkt0(3, 1, ok)))
	h.expect("second", h.pkt(registerPkt(0, 2, "b")), sendEff(regackPkt0(4, 2, ok)))
	h.expect("same name same id", h.pkt(registerPkt(0, 3, "a")), sendEff(regackPkt0(3, 3, ok)))
	h.expect("wildcard", h.pkt(registerPkt(0, 4, "a/+")), sendEff(regackPkt0(0, 4, mqttsn.RejectedInvalidTopicID)))
	h.expect("third", h.pkt(registerPkt(0, 5, "c")), sendEff(regackPkt0(5, 5, ok)))
	h.expect("limit", h.pkt(registerPkt(0, 6, "d")), sendEff(regackPkt0(0, 6, mqttsn.RejectedCongestion)))
	h.expect("known still fine at limit", h.pkt(registerPkt(0, 7, "c")), sendEff(regackPkt0(5, 7, ok)))
}

func regackPkt0(topicID, msgID uint16, rc mqttsn.ReturnCode) mqttsn.Packet {
	return regackPkt(topicID, msgID, rc)
}

func TestPublishFromClient(t *testing.T) {
	pre := predef{7: "pre/seven"}
	for _, tt := range []struct {
		name string
		in   mqttsn.Packet
		want []Effect
	}{
		{"QoS 0 normal", publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x"), []Effect{pubEff(0, "a/b", "x", 0, false)}},
		{"QoS 0 with MsgId", publishPkt(0, mqttsn.TopicIDNormal, 1, 99, "x"), []Effect{pubEff(0, "a/b", "x", 0, false)}},
		{"QoS 0 retain", retainOf(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x")), []Effect{pubEff(0, "a/b", "x", 0, true)}},
		{"QoS 0 predefined", publishPkt(0, mqttsn.TopicIDPredefined, 7, 0, "x"), []Effect{pubEff(0, "pre/seven", "x", 0, false)}},
		{"QoS 0 short", publishPkt(0, mqttsn.TopicIDShort, 'a'<<8|'z', 0, "x"), []Effect{pubEff(0, "az", "x", 0, false)}},
		{"QoS 1 normal", publishPkt(1, mqttsn.TopicIDNormal, 1, 5, "x"), []Effect{pubEff(5, "a/b", "x", 1, false)}},
		{"QoS 2 short", publishPkt(2, mqttsn.TopicIDShort, 'a'<<8|'z', 5, "x"), []Effect{pubEff(5, "az", "x", 2, false)}},
		{"QoS -1 predefined", publishPkt(-1, mqttsn.TopicIDPredefined, 7, 0, "x"), []Effect{pubEff(0, "pre/seven", "x", 0, false)}},
		{"QoS -1 short", publishPkt(-1, mqttsn.TopicIDShort, 'a'<<8|'z', 0, "x"), []Effect{pubEff(0, "az", "x", 0, false)}},
		{"QoS -1 normal dropped", publishPkt(-1, mqttsn.TopicIDNormal, 1, 0, "x"), nil},
		{"QoS -1 unknown predefined dropped", publishPkt(-1, mqttsn.TopicIDPredefined, 8, 0, "x"), nil},
		{"QoS 0 unknown id", publishPkt(0, mqttsn.TopicIDNormal, 9, 0, "x"),
			[]Effect{sendEff(pubackPkt(9, 0, mqttsn.RejectedInvalidTopicID))}},
		{"QoS 1 unknown id", publishPkt(1, mqttsn.TopicIDNormal, 9, 3, "x"),
			[]Effect{sendEff(pubackPkt(9, 3, mqttsn.RejectedInvalidTopicID))}},
		{"QoS 2 unknown predefined", publishPkt(2, mqttsn.TopicIDPredefined, 8, 3, "x"),
			[]Effect{sendEff(pubackPkt(8, 3, mqttsn.RejectedInvalidTopicID))}},
		{"short with wildcard", publishPkt(1, mqttsn.TopicIDShort, '#'<<8|'a', 3, "x"),
			[]Effect{sendEff(pubackPkt('#'<<8|'a', 3, mqttsn.RejectedInvalidTopicID))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{Predefined: pre})
			h.connect(true, 0)
			h.pkt(registerPkt(0, 1, "a/b")) // id 1
			h.expect(tt.name, h.pkt(tt.in), tt.want...)
		})
	}
}

func TestPublishQoS1AckAfterUpstream(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.pkt(registerPkt(0, 1, "a/b"))
	h.expect("PUBLISH", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 10, "x")), pubEff(10, "a/b", "x", 1, false))
	h.expect("dup while pending: not forwarded", h.pkt(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 10, "x"))))
	h.expect("published", h.step(Event{Kind: EvPublished, MsgID: 10}), sendEff(pubackPkt(1, 10, mqttsn.Accepted)))
	h.expect("PUBLISH 11", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 11, "y")), pubEff(11, "a/b", "y", 1, false))
	h.expect("upstream error", h.step(Event{Kind: EvPublished, MsgID: 11, Err: errors.New("x")}),
		sendEff(pubackPkt(1, 11, mqttsn.RejectedCongestion)))
	h.expect("unknown ack ignored", h.step(Event{Kind: EvPublished, MsgID: 11}))
}

func TestPublishQoS2ExactlyOnce(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.pkt(registerPkt(0, 1, "a/b"))
	p := publishPkt(2, mqttsn.TopicIDNormal, 1, 20, "x")
	h.expect("PUBLISH", h.pkt(p), pubEff(20, "a/b", "x", 2, false))
	h.expect("dup before upstream ack", h.pkt(dupOf(p)))
	h.expect("published", h.step(Event{Kind: EvPublished, MsgID: 20}), sendEff(pubrecPkt(20)))
	h.expect("dup before PUBREL: PUBREC again, not forwarded", h.pkt(dupOf(p)), sendEff(pubrecPkt(20)))
	h.expect("PUBREL", h.pkt(pubrelPkt(20)), sendEff(pubcompPkt(20)))
	h.expect("PUBREL again", h.pkt(pubrelPkt(20)), sendEff(pubcompPkt(20)))
	// After PUBCOMP the MsgId is free: a new PUBLISH with it is new.
	h.expect("reuse MsgId", h.pkt(p), pubEff(20, "a/b", "x", 2, false))
}

func TestPublishMaxInflight(t *testing.T) {
	h := newHarness(t, Config{MaxInflight: 2})
	h.connect(true, 0)
	h.pkt(registerPkt(0, 1, "a/b"))
	h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))
	h.pkt(publishPkt(2, mqttsn.TopicIDNormal, 1, 2, "x"))
	h.expect("limit", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "x")), sendEff(pubackPkt(1, 3, mqttsn.RejectedCongestion)))
	h.expect("QoS 0 unaffected", h.pkt(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x")), pubEff(0, "a/b", "x", 0, false))
	h.step(Event{Kind: EvPublished, MsgID: 1})
	h.expect("room again", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "x")), pubEff(3, "a/b", "x", 1, false))
}

func TestPacketsWhileConnectingIgnored(t *testing.T) {
	h := newHarness(t, Config{})
	h.pkt(connectPkt("c1", true, false, 0))
	h.expect("PUBLISH", h.pkt(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.expect("SUBSCRIBE", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 1, "a", 0)))
	h.expect("QoS -1 short still forwarded", h.pkt(publishPkt(-1, mqttsn.TopicIDShort, 'a'<<8|'b', 0, "x")), pubEff(0, "ab", "x", 0, false))
}

func TestSubscribe(t *testing.T) {
	pre := predef{7: "pre/seven"}
	ok := mqttsn.Accepted
	for _, tt := range []struct {
		name    string
		in      mqttsn.Packet
		granted mqttsn.QoS
		want    []Effect // effects of the SUBSCRIBE
		ack     []Effect // effects of EvSubscribed (nil: no upstream call)
	}{
		{"name", subscribePkt(1, mqttsn.TopicIDNormal, 5, "a/b", 0), 1,
			[]Effect{subEff(5, "a/b", 1)}, []Effect{sendEff(subackPkt(1, 1, 5, ok))}},
		{"name granted lower", subscribePkt(2, mqttsn.TopicIDNormal, 5, "a/b", 0), 1,
			[]Effect{subEff(5, "a/b", 2)}, []Effect{sendEff(subackPkt(1, 1, 5, ok))}},
		{"name that is predefined", subscribePkt(1, mqttsn.TopicIDNormal, 5, "pre/seven", 0), 1,
			[]Effect{subEff(5, "pre/seven", 1)}, []Effect{sendEff(subackPkt(1, 7, 5, ok))}},
		{"wildcard +", subscribePkt(1, mqttsn.TopicIDNormal, 5, "a/+", 0), 1,
			[]Effect{subEff(5, "a/+", 1)}, []Effect{sendEff(subackPkt(1, 0, 5, ok))}},
		{"predefined", subscribePkt(2, mqttsn.TopicIDPredefined, 5, "", 7), 2,
			[]Effect{subEff(5, "pre/seven", 2)}, []Effect{sendEff(subackPkt(2, 7, 5, ok))}},
		{"short", subscribePkt(0, mqttsn.TopicIDShort, 5, "", 'x'<<8|'y'), 0,
			[]Effect{subEff(5, "xy", 0)}, []Effect{sendEff(subackPkt(0, 'x'<<8|'y', 5, ok))}},
		{"invalid filter", subscribePkt(1, mqttsn.TopicIDNormal, 5, "a/#/b", 0), 0,
			[]Effect{sendEff(subackPkt(0, 0, 5, mqttsn.RejectedInvalidTopicID))}, nil},
		{"unknown predefined", subscribePkt(1, mqttsn.TopicIDPredefined, 5, "", 8), 0,
			[]Effect{sendEff(subackPkt(0, 0, 5, mqttsn.RejectedInvalidTopicID))}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{Predefined: pre})
			h.connect(true, 0)
			h.expect("SUBSCRIBE", h.pkt(tt.in), tt.want...)
			if tt.ack != nil {
				h.expect("retransmitted SUBSCRIBE", h.pkt(tt.in))
				h.expect("subscribed", h.step(Event{Kind: EvSubscribed, MsgID: 5, Granted: tt.granted}), tt.ack...)
			}
		})
	}
}

func TestSubscribeUpstreamError(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 0)
	h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 5, "a/#", 0))
	h.expect("failed", h.step(Event{Kind: EvSubscribed, MsgID: 5, Err: errors.New("no")}),
		sendEff(subackPkt(0, 0, 5, mqttsn.RejectedCongestion)))
}

func TestSubscribeLimits(t *testing.T) {
	h := newHarness(t, Config{MaxTopics: 1, MaxInflight: 1})
	h.connect(true, 0)
	h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 1, "a", 0))
	h.expect("pending limit", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 2, "b/#", 0)), sendEff(subackPkt(0, 0, 2, mqttsn.RejectedCongestion)))
	h.step(Event{Kind: EvSubscribed, MsgID: 1, Granted: 1})
	h.expect("registry full", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 3, "b", 0)), sendEff(subackPkt(0, 0, 3, mqttsn.RejectedCongestion)))
	h.expect("wildcard needs no id", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 4, "b/#", 0)), subEff(4, "b/#", 1))
}

func TestUnsubscribe(t *testing.T) {
	h := newHarness(t, Config{Predefined: predef{7: "pre/seven"}})
	h.connect(true, 0)
	h.subscribe(1, "a/+", 1, 0)
	h.expect("UNSUBSCRIBE", h.pkt(unsubscribePkt(mqttsn.TopicIDNormal, 2, "a/+", 0)), Effect{Kind: EffUnsubscribe, MsgID: 2, Topic: "a/+"})
	h.expect("unsubscribed", h.step(Event{Kind: EvUnsubscribed, MsgID: 2}), sendEff(unsubackPkt(2)))
	h.expect("predefined", h.pkt(unsubscribePkt(mqttsn.TopicIDPredefined, 3, "", 7)), Effect{Kind: EffUnsubscribe, MsgID: 3, Topic: "pre/seven"})
	h.expect("invalid acked at once", h.pkt(unsubscribePkt(mqttsn.TopicIDNormal, 4, "#/a", 0)), sendEff(unsubackPkt(4)))
	if len(h.s.subs) != 0 {
		t.Fatalf("subscriptions left: %v", h.s.subs)
	}
}
