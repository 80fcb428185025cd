package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// sleep sends the active client to sleep for dur seconds.
func (h *harness) sleep(dur uint16) {
	h.t.Helper()
	from := h.s.State()
	want := []Effect{sendEff(typ(mqttsn.TypeDisconnect))}
	if from != Asleep {
		want = append(want, stateEff(from, Asleep))
	}
	h.expect("DISCONNECT(duration)", h.pkt(disconnectPkt(dur)), want...)
}

// TestSleepTransitions covers every edge of Fig. 4. [MQTT-SN 1.2 §6.14]
func TestSleepTransitions(t *testing.T) {
	connectFrom := func(h *harness, from State) {
		h.expect("CONNECT", h.pkt(connectPkt("c1", false, false, 10)),
			stateEff(from, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	}
	for _, tt := range []struct {
		name string
		run  func(h *harness)
		want State
	}{
		{"active -> asleep", func(h *harness) { h.sleep(60) }, Asleep},
		{"active -> disconnected", func(h *harness) {
			h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(false), stateEff(Active, Disconnected))
		}, Disconnected},
		{"active -> lost", func(h *harness) {
			h.at(15 * time.Second)
			h.expect("tick", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Active, Lost))
		}, Lost},
		{"asleep -> awake -> asleep (nothing buffered)", func(h *harness) {
			h.sleep(60)
			h.expect("PINGREQ", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
		}, Asleep},
		{"asleep -> lost", func(h *harness) {
			h.sleep(60)
			if d := h.s.NextDeadline(); !d.Equal(t0.Add(90 * time.Second)) {
				h.t.Fatalf("NextDeadline = %v", d.Sub(t0))
			}
			h.at(90*time.Second - 1)
			h.expect("not yet", h.step(Event{Kind: EvTick}))
			h.at(90 * time.Second)
			h.expect("tick", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Asleep, Lost))
		}, Lost},
		{"asleep -> lost (>1 min: +10%)", func(h *harness) {
			h.sleep(600)
			h.at(660*time.Second - 1)
			h.expect("not yet", h.step(Event{Kind: EvTick}))
			h.at(660 * time.Second)
			h.expect("tick", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Asleep, Lost))
		}, Lost},
		{"asleep -> active", func(h *harness) { h.sleep(60); connectFrom(h, Asleep) }, Active},
		{"asleep -> disconnected", func(h *harness) {
			h.sleep(60)
			h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(false), stateEff(Asleep, Disconnected))
		}, Disconnected},
		{"asleep -> asleep (new duration)", func(h *harness) {
			h.sleep(60)
			h.at(50 * time.Second)
			h.sleep(10)
			if h.s.SleepDuration() != 10*time.Second {
				h.t.Fatalf("SleepDuration = %v", h.s.SleepDuration())
			}
			if d := h.s.NextDeadline(); !d.Equal(t0.Add(65 * time.Second)) {
				h.t.Fatalf("NextDeadline = %v", d.Sub(t0))
			}
		}, Asleep},
		{"awake -> active", func(h *harness) {
			h.step(msgEv("a/b", "x", 1))
			h.sleep(60)
			h.step(msgEv("a/b", "y", 1))
			h.pkt(pingreqPkt("c1"))
			h.wantState(Awake)
			h.expect("CONNECT", h.pkt(connectPkt("c1", false, false, 10)),
				stateEff(Awake, Connecting), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active),
				sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
		}, Active},
		{"awake -> disconnected", func(h *harness) {
			h.step(msgEv("a/b", "x", 1))
			h.sleep(60)
			h.pkt(pingreqPkt("c1"))
			h.expect("DISCONNECT", h.pkt(disconnectPkt(0)), sendEff(typ(mqttsn.TypeDisconnect)), closeEff(false), stateEff(Awake, Disconnected))
		}, Disconnected},
		{"awake -> asleep (DISCONNECT with duration)", func(h *harness) {
			h.step(msgEv("a/b", "x", 1))
			h.sleep(60)
			h.pkt(pingreqPkt("c1"))
			h.sleep(30)
		}, Asleep},
		{"awake -> lost (retries exhausted)", func(h *harness) {
			h.step(msgEv("a/b", "x", 1))
			h.sleep(60)
			h.at(time.Second)
			h.expect("PINGREQ", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
			for i := 1; i <= 3; i++ {
				h.at(time.Duration(1+10*i) * time.Second)
				h.expect("retry", h.step(Event{Kind: EvTick}), sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
			}
			h.at(41 * time.Second)
			h.expect("lost", h.step(Event{Kind: EvTick}), closeEff(false), stateEff(Awake, Lost))
		}, Lost},
		{"disconnected -> active", func(h *harness) {
			h.pkt(disconnectPkt(0))
			h.expect("CONNECT", h.pkt(connectPkt("c1", false, false, 10)),
				stateEff(Disconnected, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", KeepAlive: 10 * time.Second})
			h.expect("opened", h.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
		}, Active},
		{"lost -> active", func(h *harness) {
			h.at(15 * time.Second)
			h.step(Event{Kind: EvTick})
			h.wantState(Lost)
			h.pkt(connectPkt("c1", false, false, 10))
			h.expect("opened", h.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
		}, Active},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.connect(false, 10)
			h.subscribe(1, "a/b", 1, 1)
			tt.run(h)
			h.wantState(tt.want)
		})
	}
}

func TestSleepNoRetriesWhileAsleep(t *testing.T) {
	h := newHarness(t, Config{RetryInterval: 10 * time.Second})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.expect("PUBLISH", h.step(msgEv("a/b", "x", 1)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.sleep(3600)
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(3960 * time.Second)) {
		t.Fatalf("NextDeadline = %v, want only the sleep timer", d.Sub(t0))
	}
	h.at(time.Hour)
	h.expect("no retry while asleep", h.step(Event{Kind: EvTick}))
	h.expect("late PUBACK of the paused PUBLISH is ignored", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)))
	// The paused delivery is first on wake-up, same MsgId, DUP set.
	h.expect("wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(dupOf(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "x"))))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
}

func TestSleepBufferQoS0(t *testing.T) {
	for _, buffer := range []bool{false, true} {
		t.Run(fmt.Sprint("BufferQoS0=", buffer), func(t *testing.T) {
			h := newHarness(t, Config{BufferQoS0: buffer})
			h.connect(false, 0)
			h.subscribe(1, "a/b", 1, 1)
			h.sleep(60)
			h.step(msgEv("a/b", "q0", 0))
			h.step(msgEv("a/b", "q1", 1))
			want := []Effect{stateEff(Asleep, Awake)}
			if buffer {
				want = append(want, sendEff(publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "q0")))
			}
			want = append(want, sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "q1")))
			h.expect("wake", h.pkt(pingreqPkt("c1")), want...)
			if got := h.s.Stats().NotBuffered; got != map[bool]uint64{false: 1, true: 0}[buffer] {
				t.Fatalf("NotBuffered = %d", got)
			}
		})
	}
}

func TestSleepBufferOverflow(t *testing.T) {
	h := newHarness(t, Config{SleepBuffer: 3})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	for i := range 5 {
		h.step(msgEv("a/b", fmt.Sprint(i), 1))
	}
	if h.s.Dropped() != 2 || h.s.Queued() != 3 {
		t.Fatalf("Dropped = %d, Queued = %d", h.s.Dropped(), h.s.Queued())
	}
	h.expect("oldest dropped", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "2")))
}

// Messages arriving while awake wait for the next wake-up.
func TestSleepArrivalsWhileAwake(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "1", 1))
	h.expect("wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
	h.expect("arrives while awake", h.step(msgEv("a/b", "2", 1)))
	h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
	h.expect("next wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 2, "2")))
}

func TestSleepCleanConnectDiscardsBuffer(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 1, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "1", 1))
	h.expect("clean CONNECT", h.pkt(connectPkt("c1", true, false, 0)),
		closeEff(true), stateEff(Asleep, Connecting), Effect{Kind: EffOpenUpstream, ClientID: "c1", CleanSession: true})
	h.expect("opened", h.step(Event{Kind: EvUpstreamOpened}), sendEff(connackPkt(mqttsn.Accepted)), stateEff(Connecting, Active))
	if h.s.Queued() != 0 || h.s.Stats().Discarded != 1 {
		t.Fatalf("Queued = %d, Discarded = %d", h.s.Queued(), h.s.Stats().Discarded)
	}
}

func TestSleepingClientServedWhenItPublishes(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.sleep(60)
	h.at(80 * time.Second)
	h.expect("REGISTER while asleep", h.pkt(registerPkt(0, 1, "x/y")), sendEff(regackPkt(1, 1, mqttsn.Accepted)))
	h.wantState(Asleep)
	if d := h.s.NextDeadline(); !d.Equal(t0.Add(170 * time.Second)) {
		t.Fatalf("sleep timer not restarted: %v", d.Sub(t0))
	}
}

// deliverAll acknowledges deliveries until the session answers PINGRESP,
// returning the payloads in delivery order.
func (h *harness) deliverAll(effs []Effect) []string {
	h.t.Helper()
	var got []string
	for range 10000 {
		var next []Effect
		for _, e := range effs {
			if e.Kind != EffSend {
				continue
			}
			p := e.Packet
			switch p.Type {
			case mqttsn.TypePingresp:
				return got
			case mqttsn.TypeRegister:
				next = append(next, h.pkt(regackPkt(p.Register.TopicID, p.Register.MsgID, mqttsn.Accepted))...)
			case mqttsn.TypePublish:
				got = append(got, string(p.Publish.Data))
				switch p.Publish.Flags.QoS {
				case mqttsn.QoS1:
					next = append(next, h.pkt(pubackPkt(p.Publish.TopicID, p.Publish.MsgID, mqttsn.Accepted))...)
				case mqttsn.QoS2:
					next = append(next, h.pkt(pubrecPkt(p.Publish.MsgID))...)
				}
			case mqttsn.TypePubrel:
				next = append(next, h.pkt(pubcompPkt(p.Pubrel.MsgID))...)
			}
		}
		if len(next) == 0 {
			h.t.Fatalf("delivery stalled without PINGRESP after %v", got)
		}
		effs = next
	}
	h.t.Fatal("delivery did not end")
	return nil
}

// Test100BufferedAcrossSleepCycles: 100 messages of mixed QoS on several
// topics, published while the client sleeps and wakes repeatedly, arrive
// complete and in order, each wake-up ending with PINGRESP.
func Test100BufferedAcrossSleepCycles(t *testing.T) {
	h := newHarness(t, Config{SleepBuffer: 200, BufferQoS0: true})
	h.connect(false, 0)
	h.subscribe(1, "s/#", 2, 0)
	h.sleep(60)
	var want, got []string
	n := 0
	for cycle := range 4 {
		for range 25 {
			p := fmt.Sprintf("m%03d", n)
			want = append(want, p)
			h.step(msgEv(fmt.Sprintf("s/%d", n%7), p, mqttsn.QoS(n%3)))
			n++
		}
		h.at(time.Duration(cycle+1) * 30 * time.Second)
		effs := h.pkt(pingreqPkt("c1"))
		got = append(got, h.deliverAll(effs)...)
		h.wantState(Asleep)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered out of order or incomplete:\n got %v\nwant %v", got, want)
	}
}

func TestBufferedQoS2Delivery(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 2, 1)
	h.sleep(60)
	h.step(msgEv("a/b", "x", 2))
	h.expect("wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(2, mqttsn.TopicIDNormal, 1, 1, "x")))
	h.expect("PUBREC", h.pkt(pubrecPkt(1)), sendEff(pubrelPkt(1)))
	h.expect("PUBCOMP", h.pkt(pubcompPkt(1)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
}

func TestSleepPausedInPubrelStage(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(false, 0)
	h.subscribe(1, "a/b", 2, 1)
	h.step(msgEv("a/b", "x", 2))
	h.pkt(pubrecPkt(1))
	h.sleep(60)
	h.expect("wake: PUBREL again", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(pubrelPkt(1)))
	h.expect("PUBCOMP", h.pkt(pubcompPkt(1)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
}
