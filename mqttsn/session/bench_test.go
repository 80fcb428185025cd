package session

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// BenchmarkStepPublishQoS0 is the hot path: a QoS 0 PUBLISH from an
// active client on a registered topic id.
func BenchmarkStepPublishQoS0(b *testing.B) {
	s := New(Config{})
	now := t0
	out := make([]Effect, 0, 8)
	for _, p := range []mqttsn.Packet{connectPkt("c1", true, false, 60), registerPkt(0, 1, "sensors/t1/temp")} {
		out = s.Step(now, Event{Kind: EvPacket, Packet: &p}, out[:0])
		out = s.Step(now, Event{Kind: EvUpstreamOpened}, out[:0])
	}
	p := publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "21.5")
	ev := Event{Kind: EvPacket, Packet: &p}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		out = s.Step(now, ev, out[:0])
	}
	if len(out) != 1 || out[0].Kind != EffPublish {
		b.Fatalf("effects %+v", out)
	}
}

// BenchmarkStepDeliverQoS0 delivers a broker message on a known topic.
func BenchmarkStepDeliverQoS0(b *testing.B) {
	s := New(Config{})
	now := t0
	out := make([]Effect, 0, 8)
	for _, p := range []mqttsn.Packet{connectPkt("c1", true, false, 60), subscribePkt(0, mqttsn.TopicIDNormal, 1, "sensors/t1/cmd", 0)} {
		out = s.Step(now, Event{Kind: EvPacket, Packet: &p}, out[:0])
		out = s.Step(now, Event{Kind: EvUpstreamOpened}, out[:0])
	}
	out = s.Step(now, Event{Kind: EvSubscribed, MsgID: 1}, out[:0])
	ev := msgEv("sensors/t1/cmd", "on", 0)
	b.ReportAllocs()
	for b.Loop() {
		out = s.Step(now, ev, out[:0])
	}
	if len(out) != 1 || out[0].Kind != EffSend {
		b.Fatalf("effects %+v", out)
	}
}

func TestPublishQoS0Allocs(t *testing.T) {
	s := New(Config{})
	out := make([]Effect, 0, 8)
	for _, p := range []mqttsn.Packet{connectPkt("c1", true, false, 60), registerPkt(0, 1, "a/b")} {
		out = s.Step(t0, Event{Kind: EvPacket, Packet: &p}, out[:0])
		out = s.Step(t0, Event{Kind: EvUpstreamOpened}, out[:0])
	}
	p := publishPkt(0, mqttsn.TopicIDNormal, 1, 0, "x")
	ev := Event{Kind: EvPacket, Packet: &p}
	if out = s.Step(t0, ev, out[:0]); len(out) != 1 || out[0].Kind != EffPublish {
		t.Fatalf("effects %+v", out)
	}
	if n := testing.AllocsPerRun(100, func() { out = s.Step(t0, ev, out[:0]) }); n != 0 {
		t.Fatalf("QoS 0 publish path allocates %v times per Step", n)
	}
}
