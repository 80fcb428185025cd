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
	return h.deliverAllWith(effs, nil)
}

// deliverAllWith is deliverAll that calls onPublish after each PUBLISH
// received, before acknowledging it (to step events mid-delivery).
func (h *harness) deliverAllWith(effs []Effect, onPublish func(n int)) []string {
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
				if onPublish != nil {
					onPublish(len(got))
				}
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

// Test100BufferedAcrossSleepCycles: with the default SleepBuffer (100),
// 100 messages of mixed QoS on several topics buffered during ONE sleep
// are all delivered at the next wake-up, in order, PINGRESP last; the
// messages that arrive during an awake period wait for the next one and
// are delivered then, in order; nothing is dropped. [MQTT-SN 1.2 §6.14]
func Test100BufferedAcrossSleepCycles(t *testing.T) {
	h := newHarness(t, Config{BufferQoS0: true})
	if h.s.cfg.SleepBuffer != DefaultSleepBuffer || DefaultSleepBuffer != 100 {
		t.Fatalf("SleepBuffer %d, want the default 100", h.s.cfg.SleepBuffer)
	}
	h.connect(false, 0)
	h.subscribe(1, "s/#", 2, 0)
	h.sleep(60)
	n := 0
	var arrived []string // in arrival order, not yet delivered
	arrive := func() {
		p := fmt.Sprintf("m%03d", n)
		arrived = append(arrived, p)
		h.step(msgEv(fmt.Sprintf("s/%d", n%7), p, mqttsn.QoS(n%3)))
		n++
	}
	for range 100 {
		arrive()
	}
	if h.s.Queued() != 100 {
		t.Fatalf("Queued = %d, want 100 buffered in one sleep", h.s.Queued())
	}
	var all []string
	for cycle := range 3 {
		want := arrived
		arrived = nil
		h.at(time.Duration(cycle+1) * 30 * time.Second)
		// Every 10th delivery of the first two wake-ups, a new message
		// arrives while the client is awake.
		got := h.deliverAllWith(h.pkt(pingreqPkt("c1")), func(k int) {
			if cycle < 2 && k%10 == 0 {
				arrive()
			}
		})
		h.wantState(Asleep)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("wake-up %d delivered out of order, incomplete or too much:\n got %v\nwant %v", cycle, got, want)
		}
		all = append(all, got...)
		if cycle == 0 {
			for range 5 { // and some more while asleep
				arrive()
			}
		}
	}
	if len(all) != n || n != 100+10+5+1 {
		t.Fatalf("%d delivered of %d published", len(all), n)
	}
	if d := h.s.Dropped(); d != 0 {
		t.Fatalf("Dropped = %d", d)
	}
}

// TestSleepAwakeWaitingForSuback: a client that subscribed while asleep
// and wakes before the upstream answered has its deliveries held (the
// SUBACK must come first). The awake period still ends: a repeated
// PINGREQ is answered with PINGRESP at once, and without one the sleep
// timer's time (the sleep duration plus tolerance after the PINGREQ)
// ends it with PINGRESP; the held messages wait for the next wake-up.
// [MQTT-SN 1.2 §6.14]
func TestSleepAwakeWaitingForSuback(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t, Config{})
		h.connect(false, 0)
		h.subscribe(1, "a/b", 1, 1)
		h.sleep(60)
		h.step(msgEv("a/b", "1", 1))
		h.at(10 * time.Second)
		h.expect("SUBSCRIBE while asleep", h.pkt(subscribePkt(1, mqttsn.TopicIDNormal, 2, "c/#", 0)), subEff(2, "c/#", 1))
		h.at(20 * time.Second)
		h.expect("PINGREQ: deliveries held for the SUBACK", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake))
		if d := h.s.NextDeadline(); !d.Equal(t0.Add(110 * time.Second)) {
			t.Fatalf("awake with nothing in flight: NextDeadline = %v, want 110s", d.Sub(t0))
		}
		return h
	}
	// After the SUBACK, the next wake-up delivers the held message.
	finish := func(h *harness, at time.Duration) {
		h.t.Helper()
		h.expect("SUBACK while asleep", h.step(Event{Kind: EvSubscribed, MsgID: 2, Granted: 1}),
			sendEff(subackPkt(1, 0, 2, mqttsn.Accepted)))
		h.at(at)
		h.expect("next wake", h.pkt(pingreqPkt("c1")), stateEff(Asleep, Awake), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
		h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
	}
	t.Run("repeated PINGREQ", func(t *testing.T) {
		h := setup(t)
		h.at(30 * time.Second)
		h.expect("PINGREQ again", h.pkt(pingreqPkt("c1")), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
		if d := h.s.NextDeadline(); !d.Equal(t0.Add(120 * time.Second)) {
			t.Fatalf("sleep timer not restarted: NextDeadline = %v", d.Sub(t0))
		}
		finish(h, 60*time.Second)
	})
	t.Run("timer", func(t *testing.T) {
		h := setup(t)
		h.at(110*time.Second - 1)
		h.expect("not yet", h.step(Event{Kind: EvTick}))
		h.at(110 * time.Second)
		h.expect("tick", h.step(Event{Kind: EvTick}), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
		if d := h.s.NextDeadline(); !d.Equal(t0.Add(200 * time.Second)) {
			t.Fatalf("sleep timer not restarted: NextDeadline = %v", d.Sub(t0))
		}
		finish(h, 150*time.Second)
	})
	t.Run("SUBACK while awake", func(t *testing.T) {
		h := setup(t)
		h.at(21 * time.Second)
		h.expect("SUBACK releases the delivery", h.step(Event{Kind: EvSubscribed, MsgID: 2, Granted: 1}),
			sendEff(subackPkt(1, 0, 2, mqttsn.Accepted)), sendEff(publishPkt(1, mqttsn.TopicIDNormal, 1, 1, "1")))
		if d := h.s.NextDeadline(); !d.Equal(t0.Add(21*time.Second + DefaultRetryInterval)) {
			t.Fatalf("NextDeadline = %v, want the retry timer", d.Sub(t0))
		}
		h.expect("PUBACK", h.pkt(pubackPkt(1, 1, mqttsn.Accepted)), sendEff(typ(mqttsn.TypePingresp)), stateEff(Awake, Asleep))
	})
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
