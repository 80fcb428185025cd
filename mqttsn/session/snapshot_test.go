package session

import (
	"encoding/json"
	"errors"
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
	r.wantState(Asleep)
	again := r.s.Snapshot()
	if d := cmp.Diff(snap, again, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("restored session differs (-want +got):\n%s", d)
	}
	r.expect("restored: upstream re-opened with the client's flag", r.step(Event{Kind: EvRestored}),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	if got := r.s.NextDeadline(); !got.Equal(r.now.Add(660 * time.Second)) {
		t.Fatalf("sleep timer not restarted at restore: deadline %v", got)
	}
	r.expect("opened: stored subscriptions re-made", r.step(Event{Kind: EvUpstreamOpened}),
		subEff(0, "a/#", 2), subEff(0, "b", 1))
	r.expect("re-subscribed a/#", r.step(Event{Kind: EvSubscribed, Granted: 2}))
	r.expect("re-subscribed b", r.step(Event{Kind: EvSubscribed, Granted: 1}))
	r.expect("message after restart buffered", r.step(msgEv("b", "4", 1)))

	r.at(time.Hour + 10*time.Minute)
	r.expect("PINGREQ wakes it; the REGISTER in flight is re-sent", r.pkt(pingreqPkt("c1")),
		stateEff(Asleep, Awake), sendEff(registerPkt(3, 1, "a/x")))
	r.expect("REGACK", r.pkt(regackPkt(3, 1, mqttsn.Accepted)), sendEff(publishPkt(2, mqttsn.TopicIDNormal, 3, 2, "1")))
	r.expect("PUBREC", r.pkt(pubrecPkt(2)), sendEff(pubrelPkt(2)))
	r.expect("PUBCOMP", r.pkt(pubcompPkt(2)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 3, "2")))
	r.expect("PUBACK", r.pkt(pubackPkt(1, 3, mqttsn.Accepted)),
		sendEff(publishPkt(0, mqttsn.TopicIDNormal, 3, 0, "3")), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 4, "4")))
	r.expect("PUBACK: buffer flushed, PINGRESP", r.pkt(pubackPkt(1, 4, mqttsn.Accepted)),
		sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
	r.expect("CONNECT", r.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Asleep, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	r.expect("client QoS 2 still awaiting PUBREL", r.pkt(dupOf(publishPkt(2, mqttsn.TopicIDNormal, 2, 7, "in"))), sendEff(pubrecPkt(7)))
	r.expect("PUBREL", r.pkt(pubrelPkt(7)), sendEff(pubcompPkt(7)))
	r.at(time.Hour + 11*time.Minute)
	r.expect("will survived", r.step(Event{Kind: EvTick}), willEff("w/t", "gone", mqttsn.QoS1, true), closeEff(false), stateEff(Active, Lost))
}

// TestRestorePersistentDisconnected: a CleanSession=false client that was
// active (or disconnected) is restored Disconnected; its broker-side
// session is re-made and parked, and its CONNECT finds everything.
func TestRestorePersistentDisconnected(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 30)
	h.subscribe(1, "s/t", 1, 1)
	r := &harness{t: t, s: Restore(Config{}, h.s.Snapshot()), now: t0.Add(time.Hour)}
	r.wantState(Disconnected)
	if !r.s.Persistent() {
		t.Fatal("restored session not persistent")
	}
	r.expect("restored", r.step(Event{Kind: EvRestored}),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	r.expect("opened: re-subscribed, then parked", r.step(Event{Kind: EvUpstreamOpened}),
		subEff(0, "s/t", 1), closeEff(false))
	r.expect("late answer ignored", r.step(Event{Kind: EvSubscribed, Granted: 1}))
	r.expect("PINGREQ: reconnect", r.pkt(pingreqPkt("")), sendEff(typ(mqttsn.TypeDisconnect)))
	r.expect("CONNECT", r.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	r.expect("opened", r.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	r.expect("message on the subscribed topic uses the old id", r.step(msgEv("s/t", "x", 1)),
		sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
}

// TestRestoreKept: when the upstream kept the broker session, a restored
// persistent Disconnected session opens nothing until its CONNECT; an
// asleep one re-opens and re-subscribes all the same.
func TestRestoreKept(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 30)
	h.subscribe(1, "s/t", 1, 1)
	snap := h.s.Snapshot()
	r := &harness{t: t, s: Restore(Config{}, snap), now: t0}
	r.expect("restored, kept", r.step(Event{Kind: EvRestored, Kept: true}))
	r.expect("CONNECT", r.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	r.expect("opened: no re-subscription needed", r.step(Event{Kind: EvUpstreamOpened}),
		sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))

	h.sleep(60)
	r = &harness{t: t, s: Restore(Config{}, h.s.Snapshot()), now: t0}
	r.expect("asleep, kept", r.step(Event{Kind: EvRestored, Kept: true}),
		Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second})
	r.expect("opened", r.step(Event{Kind: EvUpstreamOpened}), subEff(0, "s/t", 1))
}

// TestRestoreConnectWhileOpening: a CONNECT that comes while the restored
// upstream session is still opening uses it (CleanSession=false) or
// replaces it with a clean one (CleanSession=true).
func TestRestoreConnectWhileOpening(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 30)
	h.subscribe(1, "s/t", 1, 1)
	snap := h.s.Snapshot()

	r := &harness{t: t, s: Restore(Config{}, snap), now: t0}
	r.step(Event{Kind: EvRestored})
	r.expect("CONNECT persistent", r.pkt(connectPkt("c1", false, false, 30)), stateEff(Disconnected, Connecting))
	r.expect("opened: re-subscribed and accepted, not parked", r.step(Event{Kind: EvUpstreamOpened}),
		subEff(0, "s/t", 1), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))

	r = &harness{t: t, s: Restore(Config{}, snap), now: t0}
	r.step(Event{Kind: EvRestored})
	r.expect("CONNECT clean", r.pkt(connectPkt("c1", true, false, 30)), stateEff(Disconnected, Connecting))
	r.expect("opened: persistent one discarded, clean one opened", r.step(Event{Kind: EvUpstreamOpened}),
		closeEff(true), Effect{Kind: EffOpenUpstream, ClientID: "c1", CleanSession: true, KeepAlive: 30 * time.Second})
	r.expect("opened clean", r.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	if got := r.s.Snapshot(); len(got.Subscriptions) != 0 || len(got.Topics) != 0 {
		t.Fatalf("clean session kept %v %v", got.Subscriptions, got.Topics)
	}
}

// TestRestoreSleepingCleanSession: a CleanSession=true client that was
// asleep keeps its buffer; its upstream session is re-opened clean and
// its subscriptions re-made. If that fails, the next wake-up retries.
func TestRestoreSleepingCleanSession(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 30)
	h.subscribe(1, "s/t", 1, 1)
	h.sleep(60)
	h.step(msgEv("s/t", "m1", 1))

	r := &harness{t: t, s: Restore(Config{}, h.s.Snapshot()), now: t0.Add(time.Hour)}
	r.wantState(Asleep)
	open := Effect{Kind: EffOpenUpstream, ClientID: "c1", CleanSession: true, KeepAlive: 30 * time.Second}
	r.expect("restored", r.step(Event{Kind: EvRestored}), open)
	r.expect("open failed", r.step(Event{Kind: EvUpstreamOpened, Err: errTest}))
	r.wantState(Asleep)
	r.expect("PINGREQ: re-open and deliver", r.pkt(pingreqPkt("c1")),
		open, stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "m1")))
	r.expect("opened", r.step(Event{Kind: EvUpstreamOpened}), subEff(0, "s/t", 1))
	r.expect("PUBACK", r.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
	r.at(time.Hour + 91*time.Second)
	r.expect("sleep timer runs", r.step(Event{Kind: EvTick}), closeEff(true), stateEff(Asleep, Lost))
}

// TestRestoreCleanNotAsleepDropped: a clean session that was not asleep
// has nothing to restore; it stays Disconnected and opens nothing.
func TestRestoreCleanNotAsleepDropped(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(true, 30)
	r := &harness{t: t, s: Restore(Config{}, h.s.Snapshot()), now: t0}
	r.expect("restored", r.step(Event{Kind: EvRestored}))
	r.wantState(Disconnected)
}

// TestChanges: the durable-change counter moves for what a snapshot
// holds and stays for the hot paths that change nothing durable.
func TestChanges(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 30)
	h.subscribe(1, "s/t", 1, 1)
	c := h.s.Changes()
	h.pkt(publishPkt(0, mqttsn.TopicIDShort, 0x6162, 0, "q0"))
	h.pkt(publishPkt(1, mqttsn.TopicIDShort, 0x6162, 5, "q1"))
	h.step(Event{Kind: EvPublished, MsgID: 5})
	h.pkt(pingreqPkt(""))
	if h.s.Changes() != c {
		t.Fatalf("hot path counted as a change: %d -> %d", c, h.s.Changes())
	}
	h.step(msgEv("s/t", "x", 1))
	if h.s.Changes() == c {
		t.Fatal("queued delivery not counted as a change")
	}
	c = h.s.Changes()
	h.pkt(publishPkt(2, mqttsn.TopicIDShort, 0x6162, 6, "q2"))
	h.step(Event{Kind: EvPublished, MsgID: 6})
	if h.s.Changes() == c {
		t.Fatal("QoS 2 awaiting PUBREL not counted as a change")
	}
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

var errTest = errors.New("test: upstream down")

// TestHoldUpstream: with Config.HoldUpstream a persistent client's
// upstream session stays open while it is away, messages for it queue in
// the session (and its snapshot), and its CONNECT gets them without a new
// upstream session; a clean client's is closed as usual.
func TestHoldUpstream(t *testing.T) {
	cfg := Config{HoldUpstream: true}
	h := newHarness(t, cfg)
	h.connect(false, 30)
	h.subscribe(1, "s/t", 1, 1)
	h.expect("DISCONNECT: upstream kept", h.pkt(disconnectPkt(0)),
		sendEff(typ(mqttsn.TypeDisconnect)), stateEff(Active, Disconnected))
	h.expect("message queued", h.step(msgEv("s/t", "away", 1)))
	if q := h.s.Snapshot().Queue; len(q) != 1 || string(q[0].Payload) != "away" {
		t.Fatalf("snapshot queue %+v", q)
	}
	r := &harness{t: t, s: Restore(cfg, h.s.Snapshot()), now: t0.Add(time.Hour)}
	open := Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 30 * time.Second}
	r.expect("restored: re-opened", r.step(Event{Kind: EvRestored}), open)
	r.expect("re-subscribed, not parked", r.step(Event{Kind: EvUpstreamOpened}), subEff(0, "s/t", 1))
	r.expect("message after restart queued", r.step(msgEv("s/t", "later", 1)))
	r.expect("CONNECT: accepted on the open upstream session", r.pkt(connectPkt("c1", false, false, 30)),
		stateEff(Disconnected, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active),
		sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "away")))
	r.expect("PUBACK", r.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "later")))
	r.at(time.Hour + 46*time.Second)
	r.expect("lost: upstream kept", r.step(Event{Kind: EvTick}), stateEff(Active, Lost))

	c := newHarness(t, cfg)
	c.connect(true, 30)
	c.expect("clean DISCONNECT closes", c.pkt(disconnectPkt(0)),
		sendEff(typ(mqttsn.TypeDisconnect)), closeEff(true), stateEff(Active, Disconnected))
}
