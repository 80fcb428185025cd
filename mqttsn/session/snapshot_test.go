package session

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/snbridge/snbridge/mqttsn"
)

func TestSnapshotRestore(t *testing.T) {
	cfg := Config{BufferQoS0: true}
	h := newHarness(t, cfg)
	h.connectWill(false, 30, "w/t", "gone")
	h.subscribe(1, "a/#", 2, 0)
	h.subscribe(2, "b", 1, 1)
	h.pkt(registerPkt(0, 3, "up/t")) // id 2
	h.pkt(publishPkt(2, mqttsn.TopicIDNormal, 2, 7, "in"))
	h.step(Event{Kind: EvPublished, MsgID: 7}) // QoS 2 from the client, awaiting PUBREL
	h.expect("REGISTER a/x", h.step(msgEv("a/x", "1", 2)), sendEff(registerPkt(3, 1, "a/x")))
	h.step(msgEv("b", "2", 1))
	h.sleep(600)
	h.step(msgEv("a/x", "3", 0))

	snap := h.s.Snapshot()
	js, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(snap, back, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("JSON round trip (-want +got):\n%s", d)
	}
	if back.State != Asleep {
		t.Fatalf("State = %v", back.State)
	}

	r := &harness{t: t, s: Restore(cfg, back), now: t0.Add(time.Hour)}
	r.wantState(Disconnected)
	again := r.s.Snapshot()
	again.State = snap.State
	if d := cmp.Diff(snap, again, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("restored session differs (-want +got):\n%s", d)
	}
	r.expect("PINGREQ after restart", r.pkt(pingreqPkt("c1")), sendEff(typ(mqttsn.TypeDisconnect)))
	r.expect("CONNECT", r.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	r.expect("opened: the REGISTER in flight is re-sent", r.step(Event{Kind: EvUpstreamOpened}),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active), sendEff(registerPkt(3, 1, "a/x")))
	r.expect("REGACK", r.pkt(regackPkt(3, 1, mqttsn.Accepted)), sendEff(publishPkt(2, mqttsn.TopicIDNormal, 3, 2, "1")))
	r.expect("PUBREC", r.pkt(pubrecPkt(2)), sendEff(pubrelPkt(2)))
	r.expect("PUBCOMP", r.pkt(pubcompPkt(2)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "2")))
	r.expect("PUBACK", r.pkt(pubackPkt(1, 3, mqttsn.Accepted)), sendEff(publishPkt(0, mqttsn.TopicIDNormal, 3, 0, "3")))
	r.expect("client QoS 2 still awaiting PUBREL", r.pkt(dupOf(publishPkt(2, mqttsn.TopicIDNormal, 2, 7, "in"))), sendEff(pubrecPkt(7)))
	r.expect("PUBREL", r.pkt(pubrelPkt(7)), sendEff(pubcompPkt(7)))
	r.at(time.Hour + 45*time.Second)
	r.expect("will survived", r.step(Event{Kind: EvTick}), willEff("w/t", "gone", mqttsn.QoS1, true), closeEff(false), stateEff(Active, Lost))
}

func TestRestoreRejectsBadData(t *testing.T) {
	s := Restore(Config{}, Snapshot{
		ClientID: "c1",
		Topics:   map[string]uint16{"a": 0, "b": 0xFFFF, "c": 5},
		InFlight: &InFlight{Message: Message{Topic: "z", QoS: 1}, Stage: 9},
		Queue:    []Message{{Topic: "q", QoS: 7}},
	})
	if s.reg.len() != 1 {
		t.Fatalf("registry %v", s.reg.byName)
	}
	if s.cur.active || s.queue.len() != 2 || s.queue.at(0).Topic != "z" || s.queue.at(1).QoS != mqttsn.QoS2 {
		t.Fatalf("in-flight not requeued: cur %+v queue %d", s.cur, s.queue.len())
	}
}
